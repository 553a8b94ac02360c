import { describe, expect, it } from 'vitest';
import { runAdm } from '../../host/rules/adm.ts';
import { ModelIpvs } from './model.ts';

/** run one command line (or -R with stdin) on a model; show "rc | stdout | stderr" */
const adm = async (be: ModelIpvs, args: string, stdin?: string): Promise<string> => {
  const r = await runAdm(args.split(' '), be, { stdin });
  return `${r.rc} | ${r.stdout} | ${r.stderr}`;
};
const fresh = (): ModelIpvs => new ModelIpvs();

describe('runAdm: exit codes and -R semantics (ipvsadm process_options/restore_table)', () => {
  it('a failed change is rc 255 with the libipvs text', async () => {
    expect(await adm(fresh(), '-D -t 1.2.3.4:80')).toBe('255 |  | No such service\n');
  });
  it('-e on a missing service says "Service not defined"', async () => {
    expect(await adm(fresh(), '-e -t 1.2.3.4:80 -r 10.0.0.1')).toBe('255 |  | Service not defined\n');
  });
  it('-Z on a missing service', async () => {
    expect(await adm(fresh(), '-Z -t 1.2.3.4:80')).toBe('255 |  | No such service\n');
  });
  it('-R: kernel errors print and the restore goes on; rc is the last line\'s', async () => {
    const be = fresh();
    expect(await adm(be, '-R', '-A -t 1.2.3.4:80\n-A -t 1.2.3.4:80\n-A -t 1.2.3.4:81\n')).toBe('0 |  | Service already exists\n');
    expect(be.svcs.map((s) => s.port)).toEqual([80, 81]);
    expect(await adm(fresh(), '-R', '-A -t 1.2.3.4:80\n-D -t 1.2.3.4:99\n')).toBe('255 |  | No such service\n');
  });
  it('-R: a usage error ends the restore (lines before it stay applied)', async () => {
    const be = fresh();
    expect(await adm(be, '-R', '-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r 10.0.0.1 -w -1\n-A -t 1.2.3.4:81\n')).toBe('2 |  | illegal weight specified\n');
    expect(be.svcs.map((s) => s.port)).toEqual([80]);
  });
  it('-R: a popt error fails only its line', async () => {
    const be = fresh();
    expect(await adm(be, '-R', '-A -t 1.2.3.4:80 --bogus\n-A -t 1.2.3.4:81\n')).toBe('0 |  | --bogus: unknown option\n');
    expect(be.svcs.map((s) => s.port)).toEqual([81]);
  });
  it('-R: "#" lines are not comments in ipvsadm 1.31', async () => {
    expect(await adm(fresh(), '-R', '# saved rules\n-A -t 1.2.3.4:80\n')).toBe("255 |  | Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n");
  });
  it('-R: -h inside prints help and exits 0', async () => {
    expect((await adm(fresh(), '-R', '-h\n-A -t 1.2.3.4:80\n')).slice(0, 13)).toBe('0 | ipvsadm v');
  });
  it('--set then -L --timeout', async () => {
    const be = fresh();
    await adm(be, '--set 0 60 0');
    expect(await adm(be, '-L --timeout')).toBe('0 | Timeout (tcp tcpfin udp): 900 60 300\n | ');
  });
  it('daemon commands parse, then fail as unsupported', async () => {
    expect(await adm(fresh(), '--start-daemon master')).toBe('255 |  | Connection synchronization daemon is not supported by wasmvs\n');
  });
  it('-L --daemon with no daemon prints nothing', async () => {
    expect(await adm(fresh(), '-L --daemon')).toBe('0 |  | ');
  });
});
