/**
 * Rfc2217Transport against scripted in-process servers: the paths a real ser2net never takes (refusals,
 * silence, odd answers), URL parameters, and notifications. The real ser2net is in ser2net.test.ts.
 */
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTransport, openTransport, TransportErrorCode } from '../../src/transport/index.js';
import { Rfc2217Transport } from '../../src/transport/rfc2217.js';
import {
  DO,
  DONT,
  encodeSubnegotiation,
  IAC,
  TelnetDecoder,
  type TelnetEvent,
  WILL,
  WONT,
} from '../../src/transport/telnet.js';
import { freePort } from '../helpers/ser2net.js';

interface FakeServer {
  port: number;
  /** Every event the server decoded from the client, per connection. */
  received: TelnetEvent[];
  sockets: net.Socket[];
  close(): Promise<void>;
}

type Behaviour = (socket: net.Socket, ev: TelnetEvent) => void;

const servers: FakeServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function fakeServer(onEvent: Behaviour, onConnect?: (s: net.Socket) => void): Promise<FakeServer> {
  const received: TelnetEvent[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    const dec = new TelnetDecoder();
    onConnect?.(socket);
    socket.on('data', (chunk) => {
      for (const ev of dec.decode(chunk)) {
        received.push(ev);
        onEvent(socket, ev);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const fake: FakeServer = {
    port: (server.address() as net.AddressInfo).port,
    received,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  servers.push(fake);
  return fake;
}

/** A well-behaved RFC 2217 server: agrees to BINARY, SGA, COM-PORT and answers SET-* (mapping via `answer`). */
function agreeable(answer: (cmd: number, value: Buffer) => Buffer | undefined = (_c, v) => v): Behaviour {
  return (socket, ev) => {
    if (ev.type === 'negotiation') {
      const agree = [0, 3, 44].includes(ev.option);
      if (ev.verb === WILL) socket.write(Buffer.from([IAC, agree ? DO : DONT, ev.option]));
      if (ev.verb === DO)
        socket.write(Buffer.from([IAC, agree && ev.option !== 44 ? WILL : WONT, ev.option]));
    } else if (ev.type === 'subnegotiation' && ev.option === 44) {
      const cmd = ev.payload[0] as number;
      const value = answer(cmd, ev.payload.subarray(1));
      if (value) socket.write(encodeSubnegotiation(44, Buffer.concat([Buffer.from([cmd + 100]), value])));
    }
  };
}

describe('rfc2217:// URLs', () => {
  it('createTransport makes an Rfc2217Transport with the URL settings', () => {
    const t = createTransport(
      'rfc2217://127.0.0.1:2000?baud=921600&databits=7&parity=even&stopbits=2&rtscts=true',
    );
    expect(t).toBeInstanceOf(Rfc2217Transport);
    expect(t.kind).toBe('rfc2217');
    expect((t as Rfc2217Transport).options).toMatchObject({
      baudRate: 921600,
      dataBits: 7,
      parity: 'even',
      stopBits: 2,
      flowControl: 'rtscts',
    });
    expect(t.description).toBe(
      'rfc2217://127.0.0.1:2000?baud=921600&databits=7&parity=even&stopbits=2&rtscts=true',
    );
    const d = createTransport('rfc2217://labhost:2000') as Rfc2217Transport;
    expect(d.options).toMatchObject({
      baudRate: 115200,
      dataBits: 8,
      parity: 'none',
      stopBits: 1,
      flowControl: 'none',
    });
  });

  it.each([
    ['rfc2217://h:1?baud=12', /baud '12'/],
    ['rfc2217://h:1?databits=9', /databits/],
    ['rfc2217://h:1?parity=weird', /parity/],
    ['rfc2217://h:1?stopbits=3', /stopbits/],
    ['rfc2217://h:1?rtscts=maybe', /rtscts/],
    ['rfc2217://h:1?rtscts=1&xonxoff=1', /both/],
    ['rfc2217://h:1?bogus=1', /unknown query parameter 'bogus'/],
    ['rfc2217://h:1?baud=9600&baudrate=9600', /not both/],
    ['rfc2217://h', /missing port/],
  ])('%s → E_OFFLOAD_BAD_URL', (url, message) => {
    expect(() => createTransport(url)).toThrow(
      expect.objectContaining({ code: TransportErrorCode.BAD_URL, message: expect.stringMatching(message) }),
    );
  });
});

describe('Rfc2217Transport open', () => {
  it('negotiates, sets the line, exposes what the server acknowledged, and escapes data both ways', async () => {
    // The server "can only do" 115200 and 8 data bits: its answers win.
    const srv = await fakeServer(
      agreeable((cmd, v) => (cmd === 1 ? Buffer.from([0, 1, 0xc2, 0]) : cmd === 2 ? Buffer.from([8]) : v)),
    );
    const t = (await openTransport(
      `rfc2217://127.0.0.1:${srv.port}?baud=921600&databits=7&parity=odd`,
    )) as Rfc2217Transport;
    expect(t.isOpen).toBe(true);
    expect(t.lineSettings).toEqual({
      baudRate: 115200,
      dataBits: 8,
      parity: 'odd',
      stopBits: 1,
      flowControl: 'none',
    });
    // The client asked for what RFC 2217 wants.
    const negotiations = srv.received.filter((e) => e.type === 'negotiation');
    expect(negotiations).toEqual(
      expect.arrayContaining([
        { type: 'negotiation', verb: WILL, option: 0 },
        { type: 'negotiation', verb: DO, option: 0 },
        { type: 'negotiation', verb: WILL, option: 44 },
      ]),
    );
    const subs = srv.received
      .filter((e) => e.type === 'subnegotiation')
      .map((e) => (e as { payload: Buffer }).payload);
    expect(subs).toContainEqual(Buffer.from([1, 0, 0x0e, 0x10, 0])); // SET-BAUDRATE 921600
    expect(subs).toContainEqual(Buffer.from([3, 2])); // SET-PARITY odd

    // Data with 0xFF both ways.
    const fromServer: Buffer[] = [];
    t.on('data', (d) => fromServer.push(d));
    const server = srv.sockets[0] as net.Socket;
    server.write(Buffer.from([0xff, 0xff, 0, 0xff, 0xff, 7]));
    const before = srv.received.length;
    t.write(Buffer.from([0xff, 0, 0xff]));
    await waitFor(() => Buffer.concat(fromServer).length === 4 && srv.received.length > before);
    expect([...Buffer.concat(fromServer)]).toEqual([0xff, 0, 0xff, 7]);
    const data = srv.received.slice(before).filter((e) => e.type === 'data');
    expect([...Buffer.concat(data.map((e) => (e as { data: Buffer }).data))]).toEqual([0xff, 0, 0xff]);

    // Notifications become typed events.
    const modem = once(t, 'modem-state');
    const line = once(t, 'line-state');
    server.write(Buffer.from([IAC, 0xfa, 44, 107, 0xb1, IAC, 0xf0, IAC, 0xfa, 44, 106, 0x0a, IAC, 0xf0]));
    const [m] = await modem;
    const [l] = await line;
    expect(m).toMatchObject({ value: 0xb1, cts: true, dsr: true, cd: true, ri: false, deltaCts: true });
    expect(l).toMatchObject({ value: 0x0a, overrunError: true, framingError: true, parityError: false });
    expect(t.modemState?.value).toBe(0xb1);

    // Later changes and purge are answered.
    expect(await t.setLineSettings({ stopBits: 2 })).toMatchObject({ stopBits: 2 });
    await t.purge('rx');
    expect(srv.received.filter((e) => e.type === 'subnegotiation').at(-1)).toEqual({
      type: 'subnegotiation',
      option: 44,
      payload: Buffer.from([12, 1]),
    });

    // The server going away is a typed close.
    const closed = once(t, 'close');
    server.destroy();
    const [err] = await closed;
    expect(err).toMatchObject({ code: TransportErrorCode.LINK_DOWN });
    await expect(t.purge()).rejects.toMatchObject({ code: TransportErrorCode.TRANSPORT_CLOSED });
  });

  it('a server refusing COM-PORT-OPTION → E_OFFLOAD_RFC2217_REFUSED with a clear message', async () => {
    const srv = await fakeServer((socket, ev) => {
      if (ev.type === 'negotiation') {
        if (ev.verb === WILL) socket.write(Buffer.from([IAC, ev.option === 44 ? DONT : DO, ev.option]));
        if (ev.verb === DO) socket.write(Buffer.from([IAC, WILL, ev.option]));
      }
    });
    const t = createTransport(`rfc2217://127.0.0.1:${srv.port}`);
    const err = await t.open().catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: TransportErrorCode.RFC2217_REFUSED,
      message: expect.stringMatching(/refused COM-PORT-OPTION \(DONT\).*telnet\(rfc2217\)/),
    });
    expect(t.isOpen).toBe(false);
    await t.close();
  });

  it('a server refusing binary transmission → E_OFFLOAD_RFC2217_REFUSED', async () => {
    const srv = await fakeServer((socket, ev) => {
      if (ev.type === 'negotiation') {
        if (ev.verb === WILL) socket.write(Buffer.from([IAC, DO, ev.option]));
        if (ev.verb === DO) socket.write(Buffer.from([IAC, ev.option === 0 ? WONT : WILL, ev.option]));
      }
    });
    await expect(openTransport(`rfc2217://127.0.0.1:${srv.port}`)).rejects.toMatchObject({
      code: TransportErrorCode.RFC2217_REFUSED,
      message: expect.stringMatching(/refused binary transmission \(WONT BINARY\)/),
    });
  });

  it('a silent server (raw TCP) → E_OFFLOAD_RFC2217_NO_ANSWER naming tcp://', async () => {
    const srv = await fakeServer(() => undefined);
    const t = createTransport(`rfc2217://127.0.0.1:${srv.port}`, { rfc2217: { negotiationTimeoutMs: 200 } });
    const started = Date.now();
    await expect(t.open()).rejects.toMatchObject({
      code: TransportErrorCode.RFC2217_NO_ANSWER,
      message: expect.stringMatching(/DO COM-PORT-OPTION.*tcp:\/\//),
    });
    expect(Date.now() - started).toBeLessThan(2000);
    await t.close();
  });

  it('a server that never acknowledges SET-BAUDRATE → E_OFFLOAD_RFC2217_NO_ANSWER', async () => {
    const srv = await fakeServer(agreeable((cmd, v) => (cmd === 1 ? undefined : v)));
    await expect(
      openTransport(`rfc2217://127.0.0.1:${srv.port}`, { rfc2217: { negotiationTimeoutMs: 300 } }),
    ).rejects.toMatchObject({
      code: TransportErrorCode.RFC2217_NO_ANSWER,
      message: expect.stringMatching(/command 1/),
    });
  });

  it('connect errors are those of tcp://', async () => {
    const port = await freePort();
    await expect(openTransport(`rfc2217://127.0.0.1:${port}`)).rejects.toMatchObject({
      code: TransportErrorCode.CONNECT_REFUSED,
    });
  });

  it('a server hanging up during negotiation (port busy) → typed error, not a hang', async () => {
    const srv = await fakeServer(
      () => undefined,
      (s) => s.end('Port already in use\r\n'),
    );
    await expect(openTransport(`rfc2217://127.0.0.1:${srv.port}`)).rejects.toMatchObject({
      code: TransportErrorCode.CONNECT_FAILED,
      message: expect.stringMatching(/closed the connection while opening saying 'Port already in use'/),
    });
  });

  it('close() while negotiating settles open() and leaves nothing behind', async () => {
    const srv = await fakeServer(() => undefined);
    const t = createTransport(`rfc2217://127.0.0.1:${srv.port}`);
    const opening = t.open();
    await waitFor(() => srv.sockets.length === 1);
    await t.close();
    await expect(opening).rejects.toMatchObject({ code: TransportErrorCode.TRANSPORT_CLOSED });
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
