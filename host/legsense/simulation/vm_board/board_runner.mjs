// The virtual board: the official MicroPython WebAssembly port under Node.js, booted
// like an ESP32 from a flash filesystem persisted in a host folder.
//
// Driven by host/legsense/simulation/vm_board/board.py; usage:
//   node board_runner.mjs SPEC.json
// SPEC (JSON):
//   package      absolute path of micropython.mjs
//   heap_bytes   the MicroPython heap; it cannot grow (MemoryError as on the ESP32)
//   flash_dir    host folder holding the board's flash (the VM's "/")
//   flash_bytes  size of the simulated filesystem (what os.statvfs reports)
//   lib_dir      host folder of the simulation's MicroPython modules (machine.py ...)
//   speed        ceiling: simulated time runs at most `speed` times as fast as real time
//   start_ms     simulated time (ms since the board was first powered) of this boot
//   rtc_offset_ms  the RTC (ms since 2000-01-01) minus simulated time
//   rtc_memory_hex the RTC memory as the last boot left it ("" after a power-on)
//   boot         "normal" (boot.py, main.py, then the REPL) or "raw" (boot.py, then the
//                raw REPL: a soft reset asked for from the raw REPL, as mpremote does)
//   reset_cause  machine.reset_cause() of this boot (1 power on, 2 hard, 3 watchdog)
//   uid_hex      machine.unique_id()
//   rtc_gpios    "0,2,4,...": the GPIOs esp32.wake_on_ext0/ext1 accept (the MCU's RTC GPIOs)
//   driven_pins  "27,34": inputs the host drives (the IMU's interrupt, VBUS sense)
//   req_fd, resp_fd  inherited pipe ends of the I2C bridge (below)
//
// The USB serial port is stdin/stdout, bytes in and out. While the firmware's app runs,
// stdin goes to its link (VmSerialPort in _vm_board.py) and a 0x03 (Ctrl-C) interrupts
// the app, as MicroPython's keyboard interrupt does on the board; after that stdin feeds
// the REPL (friendly and raw). MicroPython's text output gets \r\n line ends, as the
// board's cooked stdout does; the link's frames go out untouched.
//
// The flash: the host folder is copied into the in-memory filesystem at / and every
// change there (write, truncate, create, rename, unlink, mkdir, rmdir) is written through
// to the host folder synchronously before the VM goes on. Killing this process at any
// moment therefore leaves every completed write on the host and renames atomic: what
// LittleFS leaves after a power cut.
//
// I2C and the ADC go to the Python process that runs the emulators: one JSON line per
// request on req_fd (with the simulated time), a binary answer on resp_fd (status byte,
// 16-bit length, data), both blocking, so a bus transfer is synchronous as on the chip.
// Notices without an answer go the same way: {"op": "time"} (how far simulated time has
// come, a few times per real second) and {"op": "state"} just before a reset exit (the
// time, the RTC and its memory, which a reset keeps and a power cut loses).
//
// Light sleep: machine.lightsleep() sends {"op": "sleep", ...} with its wake sources, the
// watchdog's deadline and the CPU the firmware used since it last woke (process CPU in
// the VM's runs, less the bridge's own requests: the measure of "awake" the benchmark
// scales to an ESP32), and blocks until the host answers with the simulated time it
// woke at and why (the host paces that at `speed` and drops serial input meanwhile, as
// a sleeping chip's UART hears nothing). Pins the host drives are read with {"op": "pin"}.
//
// Time is simulated and honest: it advances only while the VM waits (for its next
// timer or for input), by the real time waited times `speed`, and never past the next
// timer; while the VM runs, it stands still. A VM slowed down by a busy machine thus
// slows the simulation instead of falling behind it: --speed is a ceiling, the achieved
// speed is what the host measures from the time notices. asyncio's sleeps, machine.Timer
// and the watchdog all run on this clock (_vm_board.py points asyncio at it). Signals:
// SIGUSR1 is a brownout (exit as a reset that keeps the RTC), SIGUSR2 hangs the firmware
// (nothing runs any more; the watchdog resets the board when its time comes).
//
// Exit status: 0 stdin closed; 3 set-up error; 10 hard reset (machine.reset() or the
// watchdog; the cause is on the last stderr line); 11 soft reset from the raw REPL;
// 12 soft reset from the friendly REPL.

import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { capHeap, interceptHeapGrowth } from "../vm_common.mjs";

const EXIT_SETUP = 3;
const EXIT_HARD_RESET = 10;
const EXIT_SOFT_RAW = 11;
const EXIT_SOFT_FRIENDLY = 12;
const LIB = "/simlib";
const BLOCK = 4096;
const REPORT_MS = 25; // real ms between time notices to the host
const IDLE_TICK_MS = 50; // real ms between clock updates while nothing is scheduled

function fail(message) {
  process.stderr.write(`board_runner: ${message}\n`);
  process.exit(EXIT_SETUP);
}

const spec = (() => {
  try {
    return JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  } catch (e) {
    fail(`cannot read spec: ${e.message}`);
  }
})();
const speed = spec.speed > 0 ? spec.speed : 1;

// --- output ----------------------------------------------------------------------------

let pending = [];
let pendingSize = 0;
let lastByte = 0;
let muted = false;
let flushScheduled = false;
function emit(buf) {
  pending.push(buf);
  pendingSize += buf.length;
  if (pendingSize >= 8192) flush();
  else if (!flushScheduled) {
    flushScheduled = true; // once the VM hands control back to the event loop
    setImmediate(() => {
      flushScheduled = false;
      flush();
    });
  }
}
function flush() {
  if (!pendingSize) return;
  const data = Buffer.concat(pending, pendingSize);
  pending = [];
  pendingSize = 0;
  fs.writeSync(1, data); // synchronous: nothing is lost when a reset exits right after
}
// MicroPython text: \n becomes \r\n (the board's cooked stdout), unless it is one already.
function cooked(bytes) {
  if (muted) return;
  const out = [];
  for (const b of bytes) {
    if (b === 10 && lastByte !== 13) out.push(13);
    out.push(b);
    lastByte = b;
  }
  emit(Buffer.from(out));
}
function raw(buf) {
  if (buf.length) lastByte = buf[buf.length - 1];
  emit(buf);
}

// --- the flash: MEMFS written through to the host folder --------------------------------

// The VM's "/" is the flash (VfsPosix mounted there by the port). Emscripten's own
// folders and the simulation's modules live beside it and are hidden from listings.
const HIDDEN = new Set(["tmp", "home", "dev", "proc", LIB.slice(1)]);
function hostPathOf(FS, node) {
  const p = FS.getPath(node);
  if (p === "/") return spec.flash_dir;
  const rest = p.slice(1);
  if (HIDDEN.has(rest.split("/")[0])) return null;
  return path.join(spec.flash_dir, rest);
}

function copyIn(FS, hostDir, vmDir) {
  for (const name of fs.readdirSync(hostDir).sort()) {
    const h = path.join(hostDir, name);
    const v = `${vmDir}/${name}`; // vmDir "" is the root
    if (fs.statSync(h).isDirectory()) {
      FS.mkdir(v);
      copyIn(FS, h, v);
    } else {
      FS.writeFile(v, fs.readFileSync(h));
    }
  }
}

function flashUsedBlocks(FS) {
  let blocks = 2; // LittleFS keeps two superblocks
  const walk = (dir) => {
    for (const name of FS.readdir(dir)) {
      if (name === "." || name === ".." || (dir === "/" && HIDDEN.has(name))) continue;
      const p = `${dir}/${name}`;
      const st = FS.stat(p);
      if (FS.isDir(st.mode)) {
        blocks += 1;
        walk(p);
      } else {
        blocks += Math.max(1, Math.ceil(st.size / BLOCK));
      }
    }
  };
  walk("/");
  return blocks;
}

function writeThrough(FS) {
  FS.writeFile("/tmp/.probe", "");
  const fileNode = FS.lookupPath("/tmp/.probe").node;
  const fileStream = fileNode.stream_ops;
  const fileOps = fileNode.node_ops;
  const dirOps = FS.lookupPath("/tmp").node.node_ops;
  FS.unlink("/tmp/.probe");

  const write = fileStream.write;
  fileStream.write = function (stream, buffer, offset, length, position, canOwn) {
    const n = write.call(this, stream, buffer, offset, length, position, canOwn);
    const host = hostPathOf(FS, stream.node);
    if (host !== null && n > 0) {
      const fd = fs.openSync(host, "r+");
      try {
        fs.writeSync(fd, buffer, offset, n, position);
      } finally {
        fs.closeSync(fd);
      }
    }
    return n;
  };
  for (const ops of [fileOps, dirOps]) {
    const setattr = ops.setattr;
    ops.setattr = function (node, attr) {
      setattr.call(this, node, attr);
      const host = hostPathOf(FS, node);
      if (host !== null && attr.size !== undefined && FS.isFile(node.mode)) {
        fs.truncateSync(host, attr.size);
      }
    };
  }
  const mknod = dirOps.mknod;
  dirOps.mknod = function (parent, name, mode, dev) {
    const node = mknod.call(this, parent, name, mode, dev);
    const host = hostPathOf(FS, node);
    if (host !== null) {
      if (FS.isDir(mode)) fs.mkdirSync(host, { recursive: true });
      else if (FS.isFile(mode)) fs.writeFileSync(host, "");
    }
    return node;
  };
  const rename = dirOps.rename;
  dirOps.rename = function (oldNode, newDir, newName) {
    const from = hostPathOf(FS, oldNode);
    const toDir = hostPathOf(FS, newDir);
    rename.call(this, oldNode, newDir, newName);
    if (from !== null && toDir !== null) fs.renameSync(from, path.join(toDir, newName));
  };
  const unlink = dirOps.unlink;
  dirOps.unlink = function (parent, name) {
    unlink.call(this, parent, name);
    const dir = hostPathOf(FS, parent);
    if (dir !== null) fs.rmSync(path.join(dir, name), { force: true });
  };
  const rmdir = dirOps.rmdir;
  dirOps.rmdir = function (parent, name) {
    rmdir.call(this, parent, name);
    const dir = hostPathOf(FS, parent);
    if (dir !== null) fs.rmdirSync(path.join(dir, name));
  };
  const readdir = dirOps.readdir;
  dirOps.readdir = function (node) {
    const names = readdir.call(this, node);
    return FS.getPath(node) === "/" ? names.filter((n) => !HIDDEN.has(n)) : names;
  };
  const statfsNode = FS.statfsNode;
  FS.statfsNode = (node) => {
    const st = statfsNode(node);
    if (hostPathOf(FS, node) === null) return st;
    const total = Math.floor(spec.flash_bytes / BLOCK);
    const free = Math.max(0, total - flashUsedBlocks(FS));
    return { ...st, bsize: BLOCK, frsize: BLOCK, blocks: total, bfree: free, bavail: free };
  };
}

// --- the I2C/ADC bridge to the emulators -----------------------------------------------

const header = Buffer.alloc(3);
// CPU the firmware used while awake (process.cpuUsage, us): the VM's runs, less the time
// spent in bus requests (the bridge to the emulators, which an ESP32 does not have).
let spanStart = null;
let awakeVm = 0;
let awakeBridge = 0;
let awakeBus = 0;
function cpuNow() {
  const u = process.cpuUsage();
  return u.user + u.system;
}
function readExactly(fd, buf) {
  let got = 0;
  while (got < buf.length) {
    let n;
    try {
      n = fs.readSync(fd, buf, got, buf.length - got, null);
    } catch (e) {
      if (e.code === "EAGAIN") continue;
      throw e;
    }
    if (n === 0) fail("the emulator process closed the bus");
    got += n;
  }
}
function notify(message) {
  message.t = simNow;
  fs.writeSync(spec.req_fd, JSON.stringify(message) + "\n");
}
function busRequest(request) {
  const c0 = cpuNow();
  request.t = simNow;
  fs.writeSync(spec.req_fd, JSON.stringify(request) + "\n");
  readExactly(spec.resp_fd, header);
  const data = Buffer.alloc(header.readUInt16LE(1));
  if (data.length) readExactly(spec.resp_fd, data);
  awakeBridge += cpuNow() - c0;
  awakeBus += 1;
  return [header[0], data];
}

// --- time, watchdog, serial -------------------------------------------------------------

let simNow = spec.start_ms ?? 0; // simulated ms since the board was first powered
const bootAt = simNow; // ticks_ms() counts from the boot
let rtcOffset = spec.rtc_offset_ms ?? -bootAt;
let rtcMemory = spec.rtc_memory_hex ?? "";
let idleSince = performance.now();
let lastReport = 0;
let hung = false;
const timers = new Map(); // id -> {due, fn, period}
let nextTimerId = 1;
let realTimer = null;
let wdtTimeout = 0;
let wdtFed = 0;

function nextDue() {
  let due = Infinity;
  for (const t of timers.values()) if (!hung && t.due < due) due = t.due;
  if (wdtTimeout && wdtFed + wdtTimeout < due) due = wdtFed + wdtTimeout;
  return due;
}
// The VM gets control: first let the simulated time pass that was waited.
function enter() {
  const now = performance.now();
  simNow = Math.min(simNow + (now - idleSince) * speed, Math.max(simNow, nextDue()));
  idleSince = now;
  spanStart = cpuNow();
}
// The VM handed control back: its run took no simulated time. Wait for what is next.
function leave() {
  if (spanStart !== null) {
    awakeVm += cpuNow() - spanStart;
    spanStart = null;
  }
  const now = performance.now();
  idleSince = now;
  if (now - lastReport >= REPORT_MS) {
    lastReport = now;
    notify({ op: "time" });
  }
  rearm();
}
function rearm() {
  if (realTimer !== null) {
    if (realTimer.immediate) clearImmediate(realTimer.handle);
    else clearTimeout(realTimer.handle);
  }
  realTimer = null;
  const due = nextDue();
  if (due === Infinity) {
    // Nothing scheduled (the REPL, a stopped app): the board's clock still runs.
    realTimer = { immediate: false, handle: setTimeout(idle, IDLE_TICK_MS) };
    return;
  }
  const wait = (due - simNow) / speed;
  realTimer =
    wait > 0
      ? { immediate: false, handle: setTimeout(fire, wait) }
      : { immediate: true, handle: setImmediate(fire) };
}
function idle() {
  realTimer = null;
  enter();
  leave();
}
function fire() {
  realTimer = null;
  enter();
  const due = nextDue();
  if (due - simNow > 2 * speed) {
    rearm(); // woken more than 2 real ms early: wait for the rest
    return;
  }
  if (due > simNow) simNow = due; // the timer's moment has come: it defines the time
  if (wdtTimeout && simNow >= wdtFed + wdtTimeout) {
    simNow = wdtFed + wdtTimeout;
    exitWith(EXIT_HARD_RESET, `reset: watchdog not fed for ${wdtTimeout} ms`);
  }
  while (!hung) {
    let first = null;
    for (const [id, t] of timers) if (t.due <= simNow && (!first || t.due < first[1].due)) first = [id, t];
    if (!first) break;
    const [id, t] = first;
    if (t.period > 0) t.due += t.period;
    else timers.delete(id);
    try {
      t.fn();
    } catch (e) {
      cooked(Buffer.from(`board_runner: timer callback failed: ${e.message}\n`));
    }
  }
  leave();
}
function addTimer(fn, delay, period) {
  const id = nextTimerId++;
  timers.set(id, { due: simNow + Math.max(0, delay), fn, period });
  rearm();
  return id;
}
function ticks() {
  return Math.floor(simNow - bootAt) & 0x3fffffff;
}

// machine.lightsleep(): the host decides when (and why) the chip wakes.
function lightsleep(ms, ext0Pin, ext0Level, ext1Pins, ext1High) {
  if (spanStart !== null) awakeVm += cpuNow() - spanStart;
  const cpu = { cpu_us: awakeVm - awakeBridge, bridge_us: awakeBridge, bus: awakeBus };
  flush();
  const [, data] = busRequest({
    op: "sleep",
    ms: Number(ms),
    ext0: [Number(ext0Pin), Number(ext0Level)],
    ext1: [String(ext1Pins), Number(ext1High)],
    wdt: wdtTimeout ? wdtFed + wdtTimeout : -1,
    ...cpu,
  });
  const reply = JSON.parse(data.toString());
  simNow = Math.max(simNow, reply.t);
  idleSince = performance.now();
  if (reply.reset) exitWith(EXIT_HARD_RESET, `reset: watchdog not fed for ${wdtTimeout} ms`);
  awakeVm = 0;
  awakeBridge = 0;
  awakeBus = 0;
  spanStart = cpuNow();
  return reply.cause;
}

let mp = null;
let mode = "boot"; // "boot" | "app" | "repl"
let rawRepl = false;
const serialQueue = [];
let serialWaiter = null;

function exitWith(code, why) {
  flush();
  // What survives a reset (the RTC, its memory) and where time stood: for the next boot.
  notify({ op: "state", rtc_offset_ms: rtcOffset, rtc_memory_hex: rtcMemory });
  if (why) process.stderr.write(`board_runner: ${why}\n`);
  process.exit(code);
}

const host = {
  ticks_ms: () => ticks(),
  set_timer: (fn, delay) => addTimer(fn, Number(delay), 0),
  set_interval: (fn, period) => addTimer(fn, Number(period), Math.max(1, Number(period))),
  clear_timer: (id) => {
    timers.delete(id);
  },
  rtc_ms: () => Math.floor(simNow + rtcOffset),
  rtc_set: (ms) => {
    rtcOffset = Number(ms) - simNow;
  },
  rtc_memory: (hex) => {
    if (hex === undefined || hex === null) return rtcMemory;
    rtcMemory = String(hex);
    return null;
  },
  reset_cause: () => spec.reset_cause ?? 1,
  uid_hex: () => spec.uid_hex,
  rtc_gpios: () => String(spec.rtc_gpios ?? ""),
  driven_pins: () => String(spec.driven_pins ?? ""),
  pin_level: (pin) => busRequest({ op: "pin", pin: Number(pin) })[1][0],
  lightsleep: (ms, e0p, e0l, e1, e1l) => lightsleep(ms, e0p, e0l, e1, e1l),
  i2c: (op, busId, scl, sda, addr, reg, hex, n) => {
    const [status, data] = busRequest({ op, bus: [busId, scl, sda], addr, reg, hex, n });
    if (status !== 0) return status; // an errno: the driver sees OSError
    return data.toString("hex");
  },
  adc_uv: (pin) => busRequest({ op: "adc", pin })[1].readInt32LE(0),
  wdt_start: (ms) => {
    wdtTimeout = ms;
    wdtFed = simNow;
  },
  wdt_feed: () => {
    wdtFed = simNow;
  },
  reset: (why) => exitWith(EXIT_HARD_RESET, `reset: ${why}`),
  serial_write: (hex) => raw(Buffer.from(hex, "hex")),
  serial_read: (max) => {
    if (!serialQueue.length) return null;
    let chunk = serialQueue[0];
    if (chunk.length > max) {
      serialQueue[0] = chunk.subarray(max);
      chunk = chunk.subarray(0, max);
    } else {
      serialQueue.shift();
    }
    return chunk.toString("hex");
  },
  serial_wait: () =>
    serialQueue.length
      ? Promise.resolve(1)
      : new Promise((resolve) => {
          serialWaiter = resolve;
        }),
  flash_dir: () => spec.flash_dir,
  enter_repl: () => setImmediate(enterRepl),
};

function enterRepl() {
  if (mode === "repl") return;
  mode = "repl";
  wdtTimeout = 0; // main.py feeds the watchdog from a timer once the app has stopped
  serialQueue.length = 0;
  serialWaiter = null;
  mp.replInit();
  flush();
}

function interruptApp() {
  // Ctrl-C while the app runs: the app's tasks stop, the REPL takes the port.
  try {
    mp.runPython("import _vm_board\n_vm_board.interrupt()");
  } catch (e) {
    cooked(Buffer.from(`board_runner: interrupt failed: ${e.message}\n`));
  }
  enterRepl();
}

const pasteAsk = [];

function feedRepl(byte) {
  if (byte === 1) rawRepl = true;
  else if (byte === 2) rawRepl = false;
  if (mp.replProcessChar(byte)) {
    cooked(Buffer.from("MPY: soft reboot\n"));
    exitWith(rawRepl ? EXIT_SOFT_RAW : EXIT_SOFT_FRIENDLY);
  }
}

function onInput(data) {
  for (let i = 0; i < data.length; i++) {
    const byte = data[i];
    if (mode === "app") {
      if (byte === 3) {
        const before = data.subarray(0, i);
        if (before.length) serialQueue.push(Buffer.from(before));
        interruptApp();
        onInput(data.subarray(i + 1));
        return;
      }
      continue;
    }
    if (mode !== "repl") continue;
    // Raw-paste mode (Ctrl-E A Ctrl-A) reads stdin in a blocking loop, which would hang
    // this single-threaded port: answer "not supported" so mpremote uses the raw REPL.
    if (rawRepl && (pasteAsk.length || byte === 5)) {
      pasteAsk.push(byte);
      const want = [5, 65, 1];
      if (pasteAsk.every((b, k) => b === want[k])) {
        if (pasteAsk.length === 3) {
          pasteAsk.length = 0;
          raw(Buffer.from("R\x00", "latin1"));
        }
        continue;
      }
      const held = pasteAsk.splice(0);
      for (const b of held) feedRepl(b);
      continue;
    }
    feedRepl(byte);
  }
  if (mode === "app") {
    serialQueue.push(Buffer.from(data));
    if (serialWaiter) {
      const w = serialWaiter;
      serialWaiter = null;
      w(1);
    }
  }
  flush();
}

// --- boot -------------------------------------------------------------------------------

async function main() {
  let loadMicroPython;
  try {
    ({ loadMicroPython } = await import(pathToFileURL(spec.package).href));
  } catch (e) {
    fail(`cannot load ${spec.package}: ${e.message}`);
  }
  interceptHeapGrowth();
  mp = await loadMicroPython({
    heapsize: spec.heap_bytes,
    linebuffer: false,
    stdout: (b) => cooked(b),
    stderr: (b) => cooked(b), // the board has one serial port for both
  });
  if (!capHeap(mp._module)) fail("cannot reserve C memory");
  const FS = mp.FS;
  FS.mkdir(LIB);
  copyIn(FS, spec.flash_dir, "");
  copyIn(FS, spec.lib_dir, LIB);
  writeThrough(FS);
  mp.registerJsModule("_vmhost", host);

  process.stdin.on("data", (data) => {
    if (hung) return; // a hung firmware reads nothing
    enter();
    onInput(data);
    leave();
  });
  process.stdin.on("end", () => exitWith(0));
  process.on("SIGUSR1", () => {
    enter();
    exitWith(EXIT_HARD_RESET, "reset: brownout");
  });
  process.on("SIGUSR2", () => {
    enter();
    hung = true; // the firmware hangs: nothing of it runs again; the watchdog decides
    leave();
  });

  // Boot like the board: mount the flash at /, then boot.py and main.py (or the raw REPL).
  let started = false;
  try {
    // The simulation's modules are imported from /simlib and stay in sys.modules (like
    // frozen ones), off the board's filesystem.
    mp.runPython(
      `import sys\nsys.path.insert(0, ${JSON.stringify(LIB)})\nimport esp32, machine, _vm_board\n` +
        `sys.path.pop(0)\n_vm_board.setup()`,
    );
    mode = "boot";
    mp.runPython(`_vm_started = _vm_board.boot(${JSON.stringify(spec.boot ?? "normal")})`);
    started = mp.globals.get("_vm_started") === true;
  } catch (e) {
    cooked(Buffer.from(`board_runner: boot failed: ${e.message}\n`));
  }
  if (started) {
    mode = "app"; // the app's tasks run on the JS event loop from here
  } else if (spec.boot === "raw") {
    muted = true;
    enterRepl();
    muted = false;
    onInput(Buffer.from([1]));
  } else {
    enterRepl();
  }
  flush();
  leave(); // booting took no simulated time (the board adds its boot time before)
}

main().catch((e) => fail(e?.stack ?? String(e)));
