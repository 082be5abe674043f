// omni's browser page: the two audio worklets (no build step, no dependencies).
// "capture": microphone frames -> 24 kHz mono float32, posted in 100 ms blocks.
// "player": 24 kHz float32 pushed in -> played at the context's rate; pause, resume and clear
// at once (a barge-in); reports how many 24 kHz samples it has played (what the user heard).
const RATE = 24000;

class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / RATE;  // input samples per output sample
    this.pos = 0;                   // fractional read position into `buf`
    this.buf = new Float32Array(0);
    this.out = [];
  }
  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    const buf = new Float32Array(this.buf.length + input.length);
    buf.set(this.buf); buf.set(input, this.buf.length);
    while (this.pos + 1 < buf.length) {  // linear interpolation: speech needs no more
      const i = Math.floor(this.pos), f = this.pos - i;
      this.out.push(buf[i] * (1 - f) + buf[i + 1] * f);
      this.pos += this.step;
    }
    const keep = Math.floor(this.pos);
    this.buf = buf.slice(keep);
    this.pos -= keep;
    if (this.out.length >= RATE / 10) {
      this.port.postMessage(Float32Array.from(this.out));
      this.out = [];
    }
    return true;
  }
}

class Player extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = RATE / sampleRate;  // 24 kHz samples per output sample
    this.queue = [];                // Float32Array blocks at 24 kHz
    this.pos = 0;                   // fractional position in queue[0]
    this.played = 0;                // 24 kHz samples played so far (whole session)
    this.paused = false;
    this.last = 0;
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.type === "push") this.queue.push(m.samples);
      else if (m.type === "clear") { this.queue = []; this.pos = 0; this.paused = false; }
      else if (m.type === "pause") this.paused = true;
      else if (m.type === "resume") this.paused = false;
    };
  }
  process(inputs, outputs) {
    const out = outputs[0][0];
    if (!this.paused) {
      for (let k = 0; k < out.length && this.queue.length; k++) {
        const b = this.queue[0], i = Math.floor(this.pos), f = this.pos - i;
        const next = i + 1 < b.length ? b[i + 1] : (this.queue[1] ? this.queue[1][0] : b[i]);
        out[k] = b[i] * (1 - f) + next * f;
        const before = Math.floor(this.pos);
        this.pos += this.step;
        this.played += Math.floor(this.pos) - before;
        if (this.pos >= b.length) { this.pos -= b.length; this.queue.shift(); }
      }
    }
    if (currentTime - this.last > 0.05) {  // 20 reports a second: what has been heard, and what is left
      this.last = currentTime;
      let left = 0;
      for (const b of this.queue) left += b.length;
      this.port.postMessage({ played: this.played, queued: Math.max(0, left - this.pos) });
    }
    return true;
  }
}

registerProcessor("capture", Capture);
registerProcessor("player", Player);
