// What the two MicroPython runners share (micropython_vm_runner.mjs for code runs and
// vm_board/board_runner.mjs for the virtual board): the heap ceiling.
//
// Emscripten grows linear memory through the emscripten_resize_heap import; blocking it
// (and filling the malloc arena that exists already) makes the MicroPython heap a hard
// ceiling: an allocation beyond it raises MemoryError, as on the ESP32. A small malloc
// reserve stays free for the runner's JS<->C conversions; it is smaller than any heap we
// allow (16 KiB), because the GC grows by at least the size of the heap it has, so it
// can never take the reserve for itself.

export const C_RESERVE_BYTES = 8 * 1024;

let growthBlocked = false;
let wasmMemory = null;

// Call before loadMicroPython(): wraps WebAssembly.instantiate to get at the resize import.
export function interceptHeapGrowth() {
  const instantiate = WebAssembly.instantiate;
  WebAssembly.instantiate = async (binary, imports) => {
    const resize = imports?.env?.emscripten_resize_heap;
    if (resize) {
      imports.env.emscripten_resize_heap = (requested) => (growthBlocked ? 0 : resize(requested));
    }
    const result = await instantiate(binary, imports);
    wasmMemory = (result.instance ?? result).exports?.memory ?? null;
    return result;
  };
}

// After loadMicroPython(): no more growth; returns false when the reserve cannot be had.
export function capHeap(module) {
  const reserve = module._malloc(C_RESERVE_BYTES);
  if (!reserve) return false;
  growthBlocked = true;
  for (let chunk = 1 << 26; chunk >= 64; chunk >>= 1) {
    while (module._malloc(chunk)) {
      // left full on purpose: new heap areas cannot come from it
    }
  }
  module._free(reserve);
  return true;
}

export function wasmMemoryBytes() {
  return wasmMemory ? wasmMemory.buffer.byteLength : null;
}
