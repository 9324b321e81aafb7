// PitBox telemetry batches in the browser: the decoder of relay/protocol.py's binary format.
//
// A batch is a 24-byte little-endian header (magic "PB", version, flags, car id, seq, frame
// count, u64 channel mask, raw length) and a body compressed with deflate (browsers have no zstd:
// the dashboard subscribes with codec "deflate"). The body holds one column per channel (per-tyre
// channels as 4 columns) in the order of the channel table served at /api/channels, then, when
// flags & 4, a u64 mask of the cars present and every car channel of each car. A column is a
// width byte (1, 2, 4, 8; | 0x10 for second differences) and the zigzag-coded differences,
// byte-shuffled. Values come back to within half their precision; NaN stays NaN.

export const HEADER_BYTES = 24;
export const PROTOCOL_VERSION = 1;
const CODEC_NONE = 0;
const CODEC_DEFLATE = 1;
const CODEC_ZSTD = 2;
const HAS_CARS = 0x04;
const SECOND_ORDER = 0x10;
const NAN_Q = -(2n ** 62n);
const MAX_RAW_BYTES = 16 * 1024 * 1024;

export class BatchError extends Error {
  constructor(message) {
    super(message);
    this.name = "BatchError";
  }
}

export function readHeader(buffer) {
  if (buffer.byteLength < HEADER_BYTES) throw new BatchError(`a batch is at least ${HEADER_BYTES} bytes`);
  const view = new DataView(buffer);
  if (view.getUint8(0) !== 0x50 || view.getUint8(1) !== 0x42) throw new BatchError("not a PitBox telemetry batch");
  const version = view.getUint8(2);
  if (version !== PROTOCOL_VERSION) throw new BatchError(`batch version ${version}, this page reads ${PROTOCOL_VERSION}`);
  const flags = view.getUint8(3);
  return {
    codec: flags & 0x03,
    hasCars: Boolean(flags & HAS_CARS),
    carId: view.getUint16(4, true),
    seq: view.getUint32(6, true),
    frameCount: view.getUint16(10, true),
    channelMask: view.getBigUint64(12, true),
    rawLength: view.getUint32(20, true),
  };
}

async function inflate(bytes) {
  // Python's zlib.compress writes the zlib format, which DecompressionStream calls "deflate".
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

class Reader {
  constructor(raw, frames) {
    this.raw = raw;
    this.frames = frames;
    this.pos = 0;
  }

  // One column as quantised integers: Numbers, or null entries for NaN.
  column() {
    const n = this.frames;
    if (this.pos >= this.raw.length) throw new BatchError("batch body ends early");
    const flags = this.raw[this.pos];
    const width = flags & ~SECOND_ORDER;
    const second = Boolean(flags & SECOND_ORDER);
    if (![1, 2, 4, 8].includes(width)) throw new BatchError(`column width ${width} is not 1, 2, 4 or 8`);
    const start = this.pos + 1;
    const stop = start + width * n;
    if (stop > this.raw.length) throw new BatchError("batch body ends early");
    this.pos = stop;
    const out = new Float64Array(n);
    if (width < 8) {
      // |differences| < 2^31 over at most 600 frames from 0: every sum is exact in a double.
      let acc = 0;
      let acc2 = 0;
      for (let i = 0; i < n; i++) {
        let z = 0;
        for (let k = width - 1; k >= 0; k--) z = z * 256 + this.raw[start + k * n + i];
        const delta = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
        if (second) {
          acc2 += delta;
          acc += acc2;
        } else {
          acc += delta;
        }
        out[i] = acc;
      }
      return out;
    }
    let acc = 0n;
    let acc2 = 0n;
    for (let i = 0; i < n; i++) {
      let z = 0n;
      for (let k = 7; k >= 0; k--) z = (z << 8n) | BigInt(this.raw[start + k * n + i]);
      const delta = (z >> 1n) ^ -(z & 1n);
      if (second) {
        acc2 = BigInt.asIntN(64, acc2 + delta);
        acc = BigInt.asIntN(64, acc + acc2);
      } else {
        acc = BigInt.asIntN(64, acc + delta);
      }
      out[i] = acc === NAN_Q ? NaN : Number(acc);
    }
    return out;
  }

  u64() {
    if (this.pos + 8 > this.raw.length) throw new BatchError("batch body ends early");
    const view = new DataView(this.raw.buffer, this.raw.byteOffset + this.pos, 8);
    this.pos += 8;
    return view.getBigUint64(0, true);
  }
}

function dequantise(q, channel) {
  if (channel.kind === "f") {
    for (let i = 0; i < q.length; i++) q[i] = q[i] * channel.precision;
  } else if (channel.kind === "b") {
    for (let i = 0; i < q.length; i++) q[i] = Number.isNaN(q[i]) ? NaN : q[i] !== 0 ? 1 : 0;
  }
  return q;
}

// Decode one batch. `table` is /api/channels. Resolves to
// {carId, seq, frameCount, frame: {name: Float64Array | Float64Array[4]}, cars: Map(carIdx -> {name: Float64Array})}.
export async function decodeBatch(buffer, table) {
  const header = readHeader(buffer);
  if (header.frameCount < 1) throw new BatchError("a batch holds at least one frame");
  if (header.rawLength > MAX_RAW_BYTES) throw new BatchError("batch body too large");
  const body = new Uint8Array(buffer, HEADER_BYTES);
  let raw;
  if (header.codec === CODEC_DEFLATE) {
    try {
      raw = await inflate(body);
    } catch (error) {
      throw new BatchError(`compressed body is corrupt (${error.message})`);
    }
  } else if (header.codec === CODEC_NONE) {
    raw = body;
  } else if (header.codec === CODEC_ZSTD) {
    throw new BatchError("zstd batch: subscribe with codec deflate");
  } else {
    throw new BatchError(`unknown codec ${header.codec}`);
  }
  if (raw.length !== header.rawLength) throw new BatchError("decompressed body does not match its declared length");
  const n = header.frameCount;
  const reader = new Reader(raw, n);
  const frame = {};
  table.frame.forEach((channel, index) => {
    if (!((header.channelMask >> BigInt(index)) & 1n)) return;
    if (channel.columns > 1) {
      frame[channel.name] = Array.from({ length: channel.columns }, () => dequantise(reader.column(), channel));
    } else {
      frame[channel.name] = dequantise(reader.column(), channel);
    }
  });
  const cars = new Map();
  if (header.hasCars) {
    const mask = reader.u64();
    for (let car = 0; car < table.max_cars; car++) {
      if (!((mask >> BigInt(car)) & 1n)) continue;
      const values = {};
      for (const channel of table.car) values[channel.name] = dequantise(reader.column(), channel);
      cars.set(car, values);
    }
  }
  if (reader.pos !== raw.length) throw new BatchError("batch body has trailing bytes");
  return { carId: header.carId, seq: header.seq, frameCount: n, frame, cars };
}
