/** ?channel=N&credential=... in device URLs (PROTOCOL.md §11): taken out before the scheme's parser; pcie: channels are ring pairs of their own (§10.5). */
import { describe, expect, it } from 'vitest';
import { openDevice, resolveChannel } from '../../src/index.js';
import { extractChannelParams, parseDeviceUrl } from '../../src/transport/index.js';

describe('channel parameters in device URLs', () => {
  it('are removed from the URL, whatever the scheme, keeping the other parameters', () => {
    expect(extractChannelParams('tcp://127.0.0.1:7070?channel=3')).toEqual({
      url: 'tcp://127.0.0.1:7070',
      channel: 3,
    });
    const s = extractChannelParams('serial:///dev/ttyUSB0?baud=921600&channel=255&credential=a%20b');
    expect(s).toEqual({ url: 'serial:///dev/ttyUSB0?baud=921600', channel: 255, credential: 'a b' });
    expect(parseDeviceUrl(s.url)).toMatchObject({ kind: 'serial', baudRate: 921600 });
    expect(extractChannelParams('sim:?slots=4&Channel=2').url).toBe('sim:?slots=4');
    expect(extractChannelParams('tcp://h:1')).toEqual({ url: 'tcp://h:1' });
  });

  it('reject bad values with E_OFFLOAD_BAD_URL', () => {
    for (const bad of [
      'tcp://h:1?channel=256',
      'tcp://h:1?channel=-1',
      'tcp://h:1?channel=x',
      'tcp://h:1?channel=1&channel=2',
      'tcp://h:1?credential=',
    ]) {
      expect(() => extractChannelParams(bad), bad).toThrow(
        expect.objectContaining({ code: 'E_OFFLOAD_BAD_URL' }),
      );
    }
  });

  it('options win over the URL; the environment only ever gives an ADMIN channel its credential', () => {
    const env = process.env.OFFLOAD_CREDENTIAL;
    process.env.OFFLOAD_CREDENTIAL = 'from-env';
    try {
      expect(resolveChannel({ url: 'tcp://h:1?channel=2&credential=u', channel: 5 })).toMatchObject({
        url: 'tcp://h:1',
        channel: 5,
        credential: 'u',
      });
      expect(resolveChannel({ url: 'tcp://h:1?channel=2' }).credential).toBeUndefined();
      expect(resolveChannel({ url: 'tcp://h:1?channel=255' }).credential).toBe('from-env');
      expect(resolveChannel({ url: 'tcp://h:1', role: 'ADMIN', channel: 9 }).credential).toBe('from-env');
    } finally {
      if (env === undefined) delete process.env.OFFLOAD_CREDENTIAL;
      else process.env.OFFLOAD_CREDENTIAL = env;
    }
  });

  it('pcie: the channel goes to the rings (which pair it gets: test/pcie/channels.test.ts)', async () => {
    await expect(openDevice('pcie:///dev/shm/no-such-window?channel=1')).rejects.toMatchObject({
      code: 'E_OFFLOAD_PORT_NOT_FOUND',
    });
    await expect(openDevice('pcie:///dev/shm/no-such-window', { channel: 2 })).rejects.toMatchObject({
      code: 'E_OFFLOAD_PORT_NOT_FOUND',
    });
    await expect(openDevice('pcie:///dev/shm/no-such-window?channel=300')).rejects.toMatchObject({
      code: 'E_OFFLOAD_BAD_URL',
    });
  });
});
