/** Codec figures: messages/s and MB/s for encode+decode, and framing efficiency for bulk data. */
import {
  command,
  decodeMessage,
  event,
  encodeMessage,
  encodeSerialFrame,
  encodeTcpRecord,
  FrameType,
  frameSize,
  Limits,
  SerialDeframer,
} from '../src/protocol/index.js';

export type BenchRow = Record<string, string | number>;

function timeLoop(seconds: number, body: () => number): { ops: number; bytes: number; elapsed: number } {
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(seconds * 1e9));
  let ops = 0;
  let bytes = 0;
  // Bounded by time and by count.
  while (ops < 50_000_000) {
    for (let i = 0; i < 1000; i++) bytes += body();
    ops += 1000;
    if (process.hrtime.bigint() - start > limit) break;
  }
  return { ops, bytes, elapsed: Number(process.hrtime.bigint() - start) / 1e9 };
}

export async function benchCodec(seconds = 1): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const small = command('GETOPT', 42, { id: 0x0101, option: 2 });
  const s = timeLoop(seconds, () => {
    const b = encodeMessage(small);
    decodeMessage(b);
    return b.length;
  });
  rows.push({
    bench: 'codec: small command encode+decode',
    'msg/s': Math.round(s.ops / s.elapsed),
    'MB/s': +(s.bytes / s.elapsed / 1e6).toFixed(1),
  });

  for (const [label, maxPayload] of [
    ['serial max 4096', Limits.defaultMaxPayloadSerial],
    ['tcp max 16384', Limits.defaultMaxPayloadTcp],
  ] as const) {
    const data = Buffer.alloc(maxPayload - 14, 0x5a);
    const msg = event('DATA', 1, 1, { id: 0x0101, data });
    const deframer = new SerialDeframer(maxPayload);
    const r = timeLoop(seconds, () => {
      const wire = encodeSerialFrame({
        channel: 0,
        type: FrameType.MSG,
        seq: 1,
        ack: 1,
        flags: 0,
        payload: encodeMessage(msg),
      });
      const out = deframer.push(wire);
      const f = out[0];
      if (f?.kind !== 'frame') throw new Error('bench frame lost');
      decodeMessage(f.frame.payload);
      return data.length;
    });
    rows.push({
      bench: `codec: DATA frame (${label}) encode+COBS+decode`,
      'msg/s': Math.round(r.ops / r.elapsed),
      'MB/s': +(r.bytes / r.elapsed / 1e6).toFixed(1),
    });
    // Framing efficiency: application bytes per wire byte, for random-looking data (COBS worst case is no zeros).
    const random = Buffer.alloc(maxPayload - 6);
    for (let i = 0; i < random.length; i++) random[i] = (i * 131 + 7) & 0xff;
    const payload = encodeMessage(command('SEND', 7, { id: 0x0101, data: random }));
    const serialWire = encodeSerialFrame({
      channel: 0,
      type: FrameType.MSG,
      seq: 1,
      ack: 1,
      flags: 0,
      payload,
    }).length;
    const tcpWire = encodeTcpRecord({
      channel: 0,
      type: FrameType.MSG,
      seq: 1,
      ack: 1,
      flags: 0,
      payload,
    }).length;
    rows.push({
      bench: `framing efficiency (${label})`,
      serial: +(random.length / serialWire).toFixed(4),
      tcp: +(random.length / tcpWire).toFixed(4),
      'frame overhead B': frameSize(0),
    });
  }
  return rows;
}
