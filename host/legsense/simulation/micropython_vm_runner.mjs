// Runs MicroPython code in the official WebAssembly port under Node.js.
//
// Driven by host/legsense/simulation/micropython_vm.py; usage:
//   node micropython_vm_runner.mjs SPEC.json
// SPEC (JSON):
//   package     absolute path of micropython.mjs (npm @micropython/micropython-webassembly-pyscript)
//   heap_bytes  initial MicroPython heap; with heap_limit true it is also the ceiling
//   heap_limit  true: the heap may not grow (a MemoryError, as on the ESP32)
//   files       [[host_path, vm_path], ...] copied into the VM's in-memory filesystem
//   sys_path    directories put in front of sys.path
//   cwd         working directory inside the VM
//   steps       code strings, each run as one top-level call (see the note on GC)
//   mode        "run" (execute steps, then exit) or "repl" (then serve the REPL on
//               stdin/stdout as a byte stream, like the board's USB serial port)
//   result      path of a JSON file this runner writes at the end: status, peak heap,
//               and each step's process CPU time in us (step_cpu_us: the measure the
//               benchmarks scale to an ESP32; immune to other processes on the machine)
//   cleanup_dir a folder to delete once the files are copied in (repl mode)
//
// GC note: this port never scans the C stack, so it collects garbage only between
// top-level calls; inside one call gc.mem_alloc() only grows. The peak heap of a step
// is therefore gc.mem_alloc() at its end, which the wrapper below records.
//
// Exit status: 0 all steps ran; 1 a step raised (MicroPython traceback on stderr);
// n for SystemExit(n); 3 runner or set-up error (message on stderr).

import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { capHeap, interceptHeapGrowth, wasmMemoryBytes } from "./vm_common.mjs";

const EXIT_SETUP = 3;
const STEP_DIR = "/tmp/legsense_vm";

function fail(message) {
  process.stderr.write(`micropython_vm_runner: ${message}\n`);
  process.exit(EXIT_SETUP);
}

// Output is buffered and flushed per line: one write per byte would be slow.
function makeSink(stream, flushOnNewline) {
  let chunks = [];
  let size = 0;
  const flush = () => {
    if (size) {
      stream.write(Buffer.concat(chunks, size));
      chunks = [];
      size = 0;
    }
  };
  const write = (bytes) => {
    chunks.push(Buffer.from(bytes));
    size += bytes.length;
    if (size >= 8192 || (flushOnNewline && bytes.includes(10))) flush();
  };
  return { write, flush };
}

function mkdirs(FS, dir) {
  let cur = "";
  for (const part of dir.split("/").filter(Boolean)) {
    cur += "/" + part;
    try {
      FS.mkdir(cur);
    } catch {
      // exists already
    }
  }
}

function copyIntoVm(FS, hostPath, vmPath) {
  const st = fs.statSync(hostPath);
  if (st.isDirectory()) {
    mkdirs(FS, vmPath);
    for (const name of fs.readdirSync(hostPath).sort()) {
      if (name === "__pycache__" || name.startsWith(".")) continue;
      copyIntoVm(FS, path.join(hostPath, name), path.posix.join(vmPath, name));
    }
  } else {
    mkdirs(FS, path.posix.dirname(vmPath));
    FS.writeFile(vmPath, fs.readFileSync(hostPath));
  }
}

// Each step runs through this wrapper. It records the step's peak heap before the
// top-level call returns (the GC collects then), and it reports an exception from
// inside MicroPython with sys.print_exception, which needs no heap: letting it reach
// JavaScript would format the traceback on a heap that may be full, and this port
// spins forever when that fails (nlr_jump_fail). _vm_status: [code, stop?]
const PRELUDE = `
import gc, sys
_vm_peak = [gc.mem_alloc()]
_vm_status = [0, 0]
def _vm_step(path, name):
    try:
        with open(path) as f:
            code = f.read()
        exec(compile(code, name, "exec"), globals())
    except SystemExit as e:
        c = e.args[0] if e.args else 0
        if c is None:
            c = 0
        if not isinstance(c, int):
            print(c, file=sys.stderr)
            c = 1
        _vm_status[0] = c
        _vm_status[1] = 1
    except BaseException as e:
        sys.print_exception(e, sys.stderr)
        _vm_status[0] = 1
        _vm_status[1] = 1
    finally:
        a = gc.mem_alloc()
        if a > _vm_peak[0]:
            _vm_peak[0] = a
        gc.collect()  # only flags it: the port collects when this top-level call ends
`;

async function main() {
  const specPath = process.argv[2];
  if (!specPath) fail("usage: node micropython_vm_runner.mjs SPEC.json");
  let spec;
  try {
    spec = JSON.parse(fs.readFileSync(specPath, "utf8"));
  } catch (e) {
    fail(`cannot read spec ${specPath}: ${e.message}`);
  }
  const repl = spec.mode === "repl";
  const out = makeSink(process.stdout, true);
  const err = makeSink(process.stderr, true);
  const t0 = performance.now();
  let loadMicroPython;
  try {
    ({ loadMicroPython } = await import(pathToFileURL(spec.package).href));
  } catch (e) {
    fail(`cannot load ${spec.package}: ${e.message}`);
  }
  interceptHeapGrowth();
  const mp = await loadMicroPython({
    heapsize: spec.heap_bytes,
    linebuffer: false,
    stdout: (b) => out.write(b),
    stderr: (b) => err.write(b),
  });
  if (spec.heap_limit && !capHeap(mp._module)) fail("cannot reserve C memory");
  for (const [hostPath, vmPath] of spec.files ?? []) {
    try {
      copyIntoVm(mp.FS, hostPath, vmPath);
    } catch (e) {
      fail(`cannot copy ${hostPath} to ${vmPath}: ${e.message}`);
    }
  }
  // A long-lived VM owns its staging folder: nothing in it is needed any more.
  if (spec.cleanup_dir) fs.rmSync(spec.cleanup_dir, { recursive: true, force: true });
  mkdirs(mp.FS, STEP_DIR);
  const setup = [
    PRELUDE,
    "import os",
    `os.chdir(${JSON.stringify(spec.cwd ?? "/")})`,
    ...(spec.sys_path ?? [])
      .slice()
      .reverse()
      .map((p) => `sys.path.insert(0, ${JSON.stringify(p)})`),
  ].join("\n");
  mp.runPython(setup);
  const startupMs = performance.now() - t0;

  let status = 0;
  let stepsRun = 0;
  let stopped = false;
  const steps = spec.steps ?? [];
  const stepCpuUs = [];
  for (let i = 0; i < steps.length && !stopped; i++) {
    try {
      const stepPath = `${STEP_DIR}/step${i}.py`;
      mp.FS.writeFile(stepPath, steps[i]);
      const c0 = process.cpuUsage();
      mp.runPython(`_vm_step(${JSON.stringify(stepPath)}, ${JSON.stringify(`<step ${i}>`)})`);
      const c1 = process.cpuUsage(c0);
      stepCpuUs.push(c1.user + c1.system);
      const [code, stop] = mp.PyProxy.toJs(mp.globals.get("_vm_status"));
      status = code;
      stopped = stop !== 0;
      if (!stopped || status === 0) stepsRun++;
    } catch (e) {
      // The wrapper catches everything Python raises; this is the VM itself failing.
      out.flush();
      err.write(Buffer.from(`micropython_vm_runner: VM failure: ${e?.stack ?? e}\n`));
      status = EXIT_SETUP;
      stopped = true;
    }
  }
  out.flush();
  err.flush();
  let peak = null;
  try {
    peak = mp.PyProxy.toJs(mp.globals.get("_vm_peak"))[0];
  } catch {
    // nothing to ask with after a VM failure; the status says what happened
  }
  if (spec.result) {
    fs.writeFileSync(
      spec.result,
      JSON.stringify({
        status,
        steps_run: stepsRun,
        startup_ms: startupMs,
        run_ms: performance.now() - t0 - startupMs,
        peak_heap_bytes: peak,
        step_cpu_us: stepCpuUs,
        heap_bytes: spec.heap_bytes,
        heap_limit: !!spec.heap_limit,
        wasm_memory_bytes: wasmMemoryBytes(),
      }),
    );
  }
  if (!repl || status !== 0) {
    process.exitCode = status;
    return;
  }
  // Streaming mode: the friendly/raw REPL on stdin/stdout, bytes in, bytes out.
  mp.replInit();
  out.flush();
  process.stdin.on("data", (data) => {
    for (const byte of data) {
      const done = mp.replProcessChar(byte);
      if (done) {
        out.flush();
        process.exit(0);
      }
    }
    out.flush();
    err.flush();
  });
  process.stdin.on("end", () => {
    out.flush();
    err.flush();
    process.exitCode = 0;
  });
}

main().catch((e) => fail(e?.stack ?? String(e)));
