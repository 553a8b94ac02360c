import { describe, expect, test } from 'vitest';
import { findL3, isSupportedLinkType, LINKTYPE } from '../../host/pcap/link.ts';

const ip4 = [0x45, 0, 0, 20];
const ip6 = [0x60, 0, 0, 0];
const mac = [0, 1, 2, 3, 4, 5];
const eth = (type: number[], rest: number[]) => Uint8Array.from([...mac, ...mac, ...type, ...rest]);
const sll = (proto: number[], rest: number[]) => Uint8Array.from([0, 0, 0, 1, 0, 6, ...mac, 0, 0, ...proto, ...rest]);
const sll2 = (proto: number[], rest: number[]) => Uint8Array.from([...proto, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, ...mac, 0, 0, ...rest]);
const u8 = (...b: number[]) => Uint8Array.from(b);

describe('findL3', () => {
  test.each<[string, number, Uint8Array, ReturnType<typeof findL3>]>([
    ['RAW v4', 101, u8(...ip4), { l3Offset: 0, family: 4 }],
    ['RAW v6', 101, u8(...ip6), { l3Offset: 0, family: 6 }],
    ['RAW not IP', 101, u8(0x20, 0), 'not IP'],
    ['RAW empty', 101, u8(), 'truncated link header'],
    ['DLT_RAW 12', 12, u8(...ip6), { l3Offset: 0, family: 6 }],
    ['DLT 12 as OpenBSD loop (AF_INET6=24 network order)', 12, u8(0, 0, 0, 24, ...ip6), { l3Offset: 4, family: 6 }],
    ['DLT_RAW 14', 14, u8(...ip4), { l3Offset: 0, family: 4 }],
    ['IPV4 228', 228, u8(...ip4), { l3Offset: 0, family: 4 }],
    ['IPV4 228 carrying v6 bytes', 228, u8(...ip6), 'not IP'],
    ['IPV6 229', 229, u8(...ip6), { l3Offset: 0, family: 6 }],
    ['Ethernet IPv4', 1, eth([8, 0], ip4), { l3Offset: 14, family: 4 }],
    ['Ethernet IPv6', 1, eth([0x86, 0xdd], ip6), { l3Offset: 14, family: 6 }],
    ['Ethernet ARP', 1, eth([8, 6], [0, 1]), 'not IP'],
    ['Ethernet 802.3 length field', 1, eth([0, 46], [0xaa, 0xaa]), 'not IP'],
    ['Ethernet 802.1Q', 1, eth([0x81, 0], [0, 5, 8, 0, ...ip4]), { l3Offset: 18, family: 4 }],
    ['Ethernet 802.1ad + 802.1Q', 1, eth([0x88, 0xa8], [0, 5, 0x81, 0, 0, 6, 0x86, 0xdd, ...ip6]), { l3Offset: 22, family: 6 }],
    ['Ethernet old QinQ 0x9100 + 802.1Q', 1, eth([0x91, 0], [0, 5, 0x81, 0, 0, 6, 8, 0, ...ip4]), { l3Offset: 22, family: 4 }],
    ['Ethernet three tags', 1, eth([0x88, 0xa8], [0, 5, 0x81, 0, 0, 6, 0x81, 0, 0, 7, 8, 0]), 'not IP'],
    ['Ethernet tag cut', 1, eth([0x81, 0], [0, 5, 8]), 'truncated link header'],
    ['Ethernet 13 bytes', 1, u8(...mac, ...mac, 8), 'truncated link header'],
    ['Ethernet header only', 1, eth([8, 0], []), { l3Offset: 14, family: 4 }],
    ['SLL IPv4', 113, sll([8, 0], ip4), { l3Offset: 16, family: 4 }],
    ['SLL IPv6 over 802.1Q', 113, sll([0x81, 0], [0, 5, 0x86, 0xdd, ...ip6]), { l3Offset: 20, family: 6 }],
    ['SLL ARP', 113, sll([8, 6], []), 'not IP'],
    ['SLL short', 113, u8(0, 0, 0, 1), 'truncated link header'],
    ['SLL2 IPv6', 276, sll2([0x86, 0xdd], ip6), { l3Offset: 20, family: 6 }],
    ['SLL2 IPv4 over 802.1Q', 276, sll2([0x81, 0], [0, 5, 8, 0, ...ip4]), { l3Offset: 24, family: 4 }],
    ['SLL2 short', 276, u8(8, 0, 0, 0), 'truncated link header'],
    ['NULL AF_INET little-endian host', 0, u8(2, 0, 0, 0, ...ip4), { l3Offset: 4, family: 4 }],
    ['NULL AF_INET big-endian host', 0, u8(0, 0, 0, 2, ...ip4), { l3Offset: 4, family: 4 }],
    ['NULL AF_INET6 Darwin (30) LE', 0, u8(30, 0, 0, 0, ...ip6), { l3Offset: 4, family: 6 }],
    ['NULL AF_INET6 FreeBSD (28) BE', 0, u8(0, 0, 0, 28, ...ip6), { l3Offset: 4, family: 6 }],
    ['NULL AF_INET6 NetBSD (24) LE', 0, u8(24, 0, 0, 0, ...ip6), { l3Offset: 4, family: 6 }],
    ['NULL AF 7', 0, u8(7, 0, 0, 0), 'not IP'],
    ['NULL short', 0, u8(2, 0), 'truncated link header'],
    ['LOOP AF_INET network order', 108, u8(0, 0, 0, 2, ...ip4), { l3Offset: 4, family: 4 }],
    ['LOOP AF_INET6 (24)', 108, u8(0, 0, 0, 24, ...ip6), { l3Offset: 4, family: 6 }],
    ['LOOP host order is not accepted', 108, u8(2, 0, 0, 0, ...ip4), 'not IP'],
    ['802.11 radiotap', 127, u8(0, 0, 8, 0), 'unsupported link type 127'],
  ])('%s', (_name, lt, frame, want) => {
    expect(findL3(lt, frame)).toEqual(want);
  });

  test('every supported link type survives every short or random frame without throwing', () => {
    let seed = 7;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
    for (const lt of [...Object.values(LINKTYPE), 2, 147, 65535]) {
      for (let n = 0; n < 48; n++) {
        for (let k = 0; k < 20; k++) {
          const f = Uint8Array.from({ length: n }, rand);
          const r = findL3(lt, f);
          if (typeof r !== 'string') expect(r.l3Offset).toBeLessThanOrEqual(f.length);
        }
      }
    }
  });

  test('isSupportedLinkType', () => {
    expect([0, 1, 12, 14, 101, 108, 113, 228, 229, 276].every(isSupportedLinkType)).toBe(true);
    expect(isSupportedLinkType(127)).toBe(false);
  });
});
