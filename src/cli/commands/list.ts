/** offload list: the serial ports present, and with --probe whether a device answers on each. */
import { Command, Option } from 'commander';
import { listSerialPorts, type SerialPortInfo } from '../../transport/index.js';
import { openCliDevice } from '../device.js';
import { type DeviceCliOptions, intArg, LOG_LEVELS } from '../options.js';
import { errorCode, out, printJson, table } from '../output.js';

interface ListOptions extends Pick<DeviceCliOptions, 'json' | 'logLevel' | 'timeout'> {
  probe?: boolean;
  baud: number;
}

interface PortRow extends SerialPortInfo {
  device?: { firmware: string; protocol: string; slots: number; epoch: number } | null;
  error?: string;
}

export function listCommand(): Command {
  const cmd = new Command('list')
    .description('list the serial ports present; --probe asks each whether a device answers')
    .option('--probe', 'open each port and try the handshake')
    .addOption(
      new Option('--baud <rate>', 'baud rate for --probe')
        .default(115200)
        .argParser(intArg('--baud', 50, 20_000_000)),
    )
    .addOption(
      new Option('--timeout <ms>', 'handshake timeout per port for --probe')
        .default(1500)
        .argParser(intArg('--timeout', 100, 60_000)),
    )
    .option('--json', 'machine-readable output (JSON)')
    .addOption(
      new Option('--log-level <level>', 'driver log level (pino JSON on stderr)').choices([...LOG_LEVELS]),
    );
  cmd.addHelpText(
    'after',
    `
Ports come from serialport's listing (sysfs on Linux systems without udev). Ptys (socat, ser2net) are not
listed: open them by path with --device serial:///dev/pts/N.

Examples:
  $ offload list
  $ offload list --probe --baud 921600
  $ offload list --json`,
  );
  cmd.action(async (_o: unknown, c: Command) => {
    const o = c.optsWithGlobals<ListOptions>();
    const ports: PortRow[] = await listSerialPorts();
    if (o.probe) {
      for (const p of ports) {
        const url = `serial://${p.path}?baud=${o.baud}`;
        try {
          const dev = await openCliDevice(
            { device: url, timeout: o.timeout, logLevel: o.logLevel ?? 'silent' },
            'observe',
          );
          const i = dev.info;
          p.device = {
            firmware: i.firmware,
            protocol: `${i.protocolVersion.major}.${i.protocolVersion.minor}`,
            slots: i.slots,
            epoch: i.epoch,
          };
          await dev.close();
        } catch (err) {
          p.device = null;
          p.error = errorCode(err) ?? (err as Error).message;
        }
      }
    }
    if (o.json) {
      printJson(ports);
      return;
    }
    if (ports.length === 0) {
      out('no serial ports found');
      return;
    }
    const headers = ['PORT', 'MANUFACTURER', 'USB ID', 'SERIAL'];
    if (o.probe) headers.push('DEVICE');
    out(
      table(
        headers,
        ports.map((p) => {
          const row: string[] = [
            p.path,
            p.manufacturer ?? '-',
            p.vendorId ? `${p.vendorId}:${p.productId ?? '?'}` : '-',
            p.serialNumber ?? '-',
          ];
          if (o.probe)
            row.push(
              p.device
                ? `${p.device.firmware}, protocol ${p.device.protocol}, ${p.device.slots} slots`
                : `none (${p.error})`,
            );
          return row;
        }),
      ),
    );
  });
  return cmd;
}
