/*
 * test/e2e/guest-vm.ts - the kernel oracle's Linux 6.1 as a real server on a lab's LAN, for the
 * e2e suites whose real servers must decapsulate with devices this host kernel lacks (ipip, fou).
 *
 * One guest under qemu: the oracle's initramfs ($KO_BUILD/base.cpio.gz, built by
 * ../shared/kernel-oracle/build-initramfs.sh) plus the host's copies of the modules it lacks, its
 * NIC a TAP on the lab's bridge, a 9p share to talk through: the suite's script (share/case.sh)
 * writes out/ready when set up, answers out/dump with out/stats, and powers off on out/stop.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { labSkipReason } from './env.ts';

export const KO_BUILD = process.env.KO_BUILD ?? join(process.env.TMPDIR ?? '/tmp', 'kernel-oracle-build');
export const KVER = (() => { try { return readFileSync(join(KO_BUILD, 'kver'), 'utf8').trim(); } catch { return ''; } })();
export const MODDIR = `/lib/modules/${KVER}/kernel`;

/** Why a guest with these modules cannot boot here, or null. */
export function guestSkipReason(modules: readonly string[]): string | null {
  const base = labSkipReason();
  if (base) return base;
  try { execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore', timeout: 10_000 }); } catch { return 'qemu-system-x86_64 is not installed'; }
  if (!KVER || !existsSync(join(KO_BUILD, 'base.cpio.gz'))) return `the kernel oracle's initramfs is not built (${KO_BUILD}/base.cpio.gz: run ../shared/kernel-oracle/build-initramfs.sh)`;
  if (!existsSync(`/boot/vmlinuz-${KVER}`)) return `/boot/vmlinuz-${KVER} is missing`;
  const missing = modules.filter((m) => !existsSync(`${MODDIR}/${m}.ko`));
  if (missing.length) return `guest modules missing under ${MODDIR}: ${missing.join(', ')}`;
  try { execFileSync('cpio', ['--version'], { stdio: 'ignore' }); } catch { return 'cpio is not installed'; }
  return null;
}

export interface GuestOptions {
  /** the namespace whose bridge the guest's TAP joins */
  ns: string;
  bridge: string;
  /** the TAP's name (unique per process) and the guest NIC's MAC */
  tap: string;
  mac: string;
  /** modules (paths under MODDIR, without .ko) copied into the initramfs */
  modules: readonly string[];
  /** the guest's script (share/case.sh) */
  script: string;
  /** qemu's -accel (tcg unless the suite lets KVM in) and the guest's lifetime in seconds */
  accel?: string;
  timeoutS: number;
}

export class GuestVm {
  private out = '';
  private constructor(readonly dir: string, private readonly vm: ChildProcess) {
    vm.stdout!.on('data', (d) => { this.out += d; });
    vm.stderr!.on('data', (d) => { this.out += d; });
  }

  /** Boot the guest and wait (at most 90 s) until its script says it is set up. */
  static async boot(o: GuestOptions): Promise<GuestVm> {
    const dir = mkdtempSync(join(tmpdir(), 'wvs-qemu-'));
    // initrd: the oracle's image + the modules it lacks (the kernel takes concatenated cpio archives)
    const ov = join(dir, 'overlay');
    for (const m of o.modules) {
      const to = join(ov, MODDIR, `${m}.ko`);
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(`${MODDIR}/${m}.ko`, to);
    }
    execFileSync('sh', ['-c', `cd ${ov} && find . | cpio -o -H newc --quiet -R 0:0 | gzip -1 > ${dir}/overlay.cpio.gz && cat ${KO_BUILD}/base.cpio.gz ${dir}/overlay.cpio.gz > ${dir}/initrd.gz`]);
    mkdirSync(join(dir, 'share', 'out'), { recursive: true });
    writeFileSync(join(dir, 'share', 'case.sh'), o.script);
    execFileSync('ip', ['-n', o.ns, 'tuntap', 'add', 'dev', o.tap, 'mode', 'tap']);
    execFileSync('ip', ['-n', o.ns, 'link', 'set', o.tap, 'master', o.bridge, 'up']);
    const vm = spawn('ip', ['netns', 'exec', o.ns, 'timeout', '-k', '5', String(o.timeoutS), 'qemu-system-x86_64', '-accel', o.accel ?? 'tcg', '-m', '512', '-smp', '1',
      '-nographic', '-no-reboot', '-nodefaults', '-serial', `file:${dir}/console.log`, '-monitor', 'none',
      '-kernel', `/boot/vmlinuz-${KVER}`, '-initrd', `${dir}/initrd.gz`, '-append', 'console=ttyS0 panic=-1 quiet loglevel=4',
      '-virtfs', `local,path=${dir}/share,mount_tag=host,security_model=none,id=host`,
      '-netdev', `tap,id=n0,ifname=${o.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${o.mac}`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    const g = new GuestVm(dir, vm);
    const until = Date.now() + 90_000;
    while (!existsSync(g.share('ready'))) {
      if (vm.exitCode !== null || Date.now() > until) { const log = g.log(); await g.stop(); throw new Error(`the VM did not get ready: ${log}`); }
      await new Promise((r) => setTimeout(r, 100));
    }
    return g;
  }

  /** A file in the share's out/ (the guest's side of the conversation). */
  share(f: string): string { return join(this.dir, 'share', 'out', f); }
  /** What the guest's script printed (its set-up, then its answers). */
  setupOutput(): string { return readFileSync(join(this.dir, 'share', 'stdout'), 'utf8'); }
  /** qemu's own output, the console's tail and the script's output: for an error message. */
  log(): string {
    return `${this.out}\n${existsSync(join(this.dir, 'console.log')) ? readFileSync(join(this.dir, 'console.log'), 'utf8').slice(-2000) : ''}\n` +
      `${existsSync(join(this.dir, 'share', 'stdout')) ? readFileSync(join(this.dir, 'share', 'stdout'), 'utf8') : ''}`;
  }

  /** The guest's tunnel device counters, now: the lines of out/stats it writes when asked (out/dump). */
  async statsLines(): Promise<string[]> {
    rmSync(this.share('stats'), { force: true });
    writeFileSync(this.share('dump'), '');
    const until = Date.now() + 30_000;   // the guest is an emulated CPU (TCG): slow when the host is busy
    while (!existsSync(this.share('stats'))) {
      if (Date.now() > until || this.vm.exitCode !== null) throw new Error(`the guest did not answer for its counters: ${this.log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return readFileSync(this.share('stats'), 'utf8').trim().split('\n');
  }

  /** Ask the guest to power off (killed after 5 s), and remove its files. */
  async stop(): Promise<void> {
    if (existsSync(join(this.dir, 'share', 'out'))) writeFileSync(this.share('stop'), '');
    if (this.vm.exitCode === null) {
      await Promise.race([new Promise((r) => this.vm.once('exit', r)), new Promise((r) => setTimeout(r, 5_000))]);
      if (this.vm.exitCode === null) this.vm.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
