"""Pystone, written for this project from the published description of Dhrystone 1.1 as
translated to Python (pystone 1.2: records, strings, 51-element and 51 x 51 arrays, the
procedures Proc0..Proc8 and Func1..Func3). Not a copy of any implementation; the score
is loops per second of benchmark time, as pystone reports it. Runs on MicroPython and
CPython; bench/power_duty.py runs it on the MicroPython VM to set the VM-to-ESP32 ratio.

`run(loops)` does the work and returns a check value (the globals pystone ends with);
the caller times it.
"""

IDENT1, IDENT2, IDENT3, IDENT4, IDENT5 = 1, 2, 3, 4, 5


class Record:
    def __init__(self, ptr=None, discr=0, enum=0, intc=0, string=""):
        self.ptr = ptr
        self.discr = discr
        self.enum = enum
        self.intc = intc
        self.string = string

    def copy(self):
        return Record(self.ptr, self.discr, self.enum, self.intc, self.string)


class State:
    def __init__(self):
        self.int_glob = 0
        self.bool_glob = False
        self.char1 = "\0"
        self.char2 = "\0"
        self.array1 = [0] * 51
        self.array2 = [[0] * 51 for _ in range(51)]
        self.ptr_glb = Record()  # run() sets the real one


G = State()


def proc7(a, b):
    return b + a + 2


def func3(enum_in):
    return enum_in == IDENT3


def proc6(enum_in):
    out = enum_in
    if not func3(enum_in):
        out = IDENT4
    if enum_in == IDENT1:
        out = IDENT1
    elif enum_in == IDENT2:
        out = IDENT1 if G.int_glob > 100 else IDENT4
    elif enum_in == IDENT3:
        out = IDENT2
    elif enum_in == IDENT5:
        out = IDENT3
    return out


def proc3(ptr_out):
    if G.ptr_glb is not None:
        ptr_out = G.ptr_glb.ptr
    else:
        G.int_glob = 100
    G.ptr_glb.intc = proc7(10, G.int_glob)
    return ptr_out


def proc1(ptr_in):
    nxt = G.ptr_glb.copy()
    ptr_in.ptr = nxt
    ptr_in.intc = 5
    nxt.intc = ptr_in.intc
    nxt.ptr = ptr_in.ptr
    nxt.ptr = proc3(nxt.ptr)
    if nxt.discr == IDENT1:
        nxt.intc = 6
        nxt.enum = proc6(ptr_in.enum)
        nxt.ptr = G.ptr_glb.ptr
        nxt.intc = proc7(nxt.intc, 10)
    else:
        ptr_in = nxt.copy()
    nxt.ptr = None
    return ptr_in


def proc2(io):
    loc = io + 10
    enum_loc = 0
    while True:
        if G.char1 == "A":
            loc -= 1
            io = loc - G.int_glob
            enum_loc = IDENT1
        if enum_loc == IDENT1:
            return io


def proc4():
    b = G.char1 == "A"
    G.bool_glob = b or G.bool_glob
    G.char2 = "B"


def proc5():
    G.char1 = "A"
    G.bool_glob = False


def proc8(a1, a2, i1, i2):
    loc = i1 + 5
    a1[loc] = i2
    a1[loc + 1] = a1[loc]
    a1[loc + 30] = loc
    row = a2[loc]
    for k in range(loc, loc + 2):
        row[k] = loc
    row[loc - 1] += 1
    a2[loc + 20][loc] = a1[loc]
    G.int_glob = 5


def func1(c1, c2):
    return IDENT1 if c1 != c2 else IDENT2


def func2(s1, s2):
    k = 1
    c = "\0"
    while k <= 1:
        if func1(s1[k], s2[k + 1]) == IDENT1:
            c = "A"
            k += 1
    if "W" <= c <= "Z":
        k = 7
    if c == "X":
        return True
    if s1 > s2:
        k += 7  # dead, as in the original: the benchmark's work, not its result
        return True
    return False


def run(loops):
    """Proc0: `loops` passes of the Dhrystone mix. Returns (int_glob, char2, array1[8])."""
    G.__init__()
    G.ptr_glb = Record(Record(), IDENT1, IDENT3, 40, "DHRYSTONE PROGRAM, SOME STRING")
    s1 = "DHRYSTONE PROGRAM, 1'ST STRING"
    G.array2[8][7] = 10
    for _ in range(loops):
        proc5()
        proc4()
        i1 = 2
        i2 = 3
        s2 = "DHRYSTONE PROGRAM, 2'ND STRING"
        enum_loc = IDENT2
        G.bool_glob = not func2(s1, s2)
        i3 = 0
        while i1 < i2:
            i3 = 5 * i1 - i2
            i3 = proc7(i1, i2)
            i1 += 1
        proc8(G.array1, G.array2, i1, i3)
        G.ptr_glb = proc1(G.ptr_glb)
        ch = "A"
        while ch <= G.char2:
            if enum_loc == func1(ch, "C"):
                enum_loc = proc6(IDENT1)
            ch = chr(ord(ch) + 1)
        i3 = i2 * i1
        i2 = i3 // i1
        i2 = 7 * (i3 - i2) - i1
        i1 = proc2(i1)
    return (G.int_glob, G.char2, G.array1[8])


def null_loop(loops):
    """The empty loop pystone subtracts from its time."""
    for _ in range(loops):
        pass
