/*
 * host/addr.ts - address text as glibc reads and writes it, for ipvsadm compatibility.
 *
 * ipvsadm reads a service/server address with inet_pton(AF_INET6) first, then inet_aton()
 * (which also takes "10.1", "0x0a000001", "012.0.0.1"), then gethostbyname(). It prints with
 * inet_ntop()/inet_ntoa(). These are written here from the glibc behaviour, without Node APIs.
 */

const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';

/** glibc inet_aton: 1-4 parts, each decimal/0octal/0xhex; trailing whitespace ends the number. Host-order u32 or null. */
export function inetAton(s: string): number | null {
  const parts: number[] = [];
  let i = 0;
  for (;;) {
    if (i >= s.length || !isDigit(s[i])) return null;
    let base = 10;
    if (s[i] === '0') {
      if (s[i + 1] === 'x' || s[i + 1] === 'X') { base = 16; i += 2; } else { base = 8; i++; }
    }
    let val = 0;
    let any = base === 8; // "0" alone is octal 0; "0x" needs a hex digit (strtoul stops before the x)
    for (; i < s.length; i++) {
      const c = s[i];
      if (isDigit(c)) {
        if (base === 8 && (c === '8' || c === '9')) return null;
        val = val * base + (c.charCodeAt(0) - 48);
      } else if (base === 16 && /[a-fA-F]/.test(c)) {
        val = val * 16 + (c.toLowerCase().charCodeAt(0) - 87);
      } else break;
      any = true;
      if (val > 0xffffffff) return null;
    }
    if (!any) return null;
    if (i < s.length && s[i] === '.') {
      if (parts.length >= 3 || val > 0xff) return null;
      parts.push(val);
      i++;
      continue;
    }
    if (i < s.length && !isSpace(s[i])) return null;
    parts.push(val);
    break;
  }
  const n = parts.length;
  const last = parts[n - 1];
  const maxLast = [0xffffffff, 0xffffff, 0xffff, 0xff][n - 1];
  if (last > maxLast) return null;
  let v = 0;
  for (let k = 0; k < n - 1; k++) v += parts[k] * 2 ** (8 * (3 - k));
  return (v + last) >>> 0;
}

/** Strict dotted quad (glibc inet_pton AF_INET): 4 decimal parts, no leading zeros. */
export function inetPton4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  let v = 0;
  for (let k = 1; k <= 4; k++) {
    const p = m[k];
    if (p.length > 1 && p[0] === '0') return null;
    const n = Number(p);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v >>> 0;
}

export function ntoa4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** glibc inet_pton AF_INET6 -> 16 bytes or null. */
export function inetPton6(s: string): Uint8Array | null {
  const out = new Uint8Array(16);
  let words: number[] = [];
  let gap = -1; // index in words where "::" sits
  let i = 0;
  if (s.startsWith('::')) { gap = 0; i = 2; if (s.length === 2) return out; }
  else if (s.startsWith(':')) return null;
  let v4: number | null = null;
  while (i < s.length) {
    // read a group
    let j = i;
    while (j < s.length && /[0-9a-fA-F]/.test(s[j])) j++;
    if (j < s.length && s[j] === '.') {
      v4 = inetPton4(s.slice(i));
      if (v4 === null) return null;
      i = s.length;
      break;
    }
    if (j === i || j - i > 4) return null;
    words.push(parseInt(s.slice(i, j), 16));
    i = j;
    if (i === s.length) break;
    if (s[i] !== ':') return null;
    i++;
    if (s[i] === ':') {
      if (gap >= 0) return null;
      gap = words.length;
      i++;
      if (i === s.length) break;
    } else if (i === s.length) return null;
  }
  if (v4 !== null) words.push(v4 >>> 16, v4 & 0xffff);
  if (gap >= 0) {
    if (words.length > 7) return null;
    words = [...words.slice(0, gap), ...new Array(8 - words.length).fill(0), ...words.slice(gap)];
  } else if (words.length !== 8) return null;
  for (let k = 0; k < 8; k++) { out[2 * k] = words[k] >> 8; out[2 * k + 1] = words[k] & 255; }
  return out;
}

/** glibc inet_ntop AF_INET6: longest run (>= 2) of zero words compressed, v4-mapped/compatible tail dotted. */
export function ntop6(b: Uint8Array): string {
  const w: number[] = [];
  for (let k = 0; k < 8; k++) w.push((b[2 * k] << 8) | b[2 * k + 1]);
  let best = -1, bestLen = 0, cur = -1, curLen = 0;
  for (let k = 0; k < 8; k++) {
    if (w[k] === 0) {
      if (cur < 0) { cur = k; curLen = 1; } else curLen++;
      if (curLen > bestLen) { best = cur; bestLen = curLen; }
    } else cur = -1;
  }
  if (bestLen < 2) best = -1;
  let out = '';
  for (let k = 0; k < 8; k++) {
    if (best >= 0 && k >= best && k < best + bestLen) {
      if (k === best) out += ':';
      continue;
    }
    if (k !== 0) out += ':';
    if (k === 6 && best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      out += `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
      break;
    }
    out += w[k].toString(16);
  }
  if (best >= 0 && best + bestLen === 8) out += ':';
  return out;
}

/** Parse address text the way ipvsadm's parse_service does (v6 first, then inet_aton). */
export function parseAddr(s: string): { af: 4 | 6; addr: string } | null {
  const b6 = inetPton6(s);
  if (b6) return { af: 6, addr: ntop6(b6) };
  const v4 = inetAton(s);
  if (v4 !== null) return { af: 4, addr: ntoa4(v4) };
  return null;
}

/** Normalised address text -> 32-bit words (host order) for comparisons: 1 word for v4, 4 for v6. */
export function addrWords(af: 4 | 6, addr: string): number[] {
  if (af === 4) {
    const v = inetPton4(addr) ?? inetAton(addr) ?? 0;
    return [v];
  }
  const b = inetPton6(addr) ?? new Uint8Array(16);
  const out: number[] = [];
  for (let k = 0; k < 4; k++) out.push(((b[4 * k] << 24) | (b[4 * k + 1] << 16) | (b[4 * k + 2] << 8) | b[4 * k + 3]) >>> 0);
  return out;
}

/** Normalise address text (as printed by inet_ntop) or return it unchanged if unparsable. */
export function normAddr(af: 4 | 6, addr: string): string {
  if (af === 6) { const b = inetPton6(addr); return b ? ntop6(b) : addr; }
  const v = inetPton4(addr) ?? inetAton(addr);
  return v === null ? addr : ntoa4(v);
}
