#!/usr/bin/env python3
"""pcap2jsonl.py FILE.pcap > FILE.jsonl

One JSON object per captured frame of a classic pcap (Ethernet link type):
  {"n": 1, "ts": "1732526400.123456", "len": 58, "eth": "<14 bytes hex>",
   "ip": "<IP packet hex: from the IP header to the end of the frame>"}
n counts from 1 in capture order; ts is the capture time (meaningless for
comparison); hex is lowercase without separators. Python stdlib only."""
import json, struct, sys

def main(path):
    with open(path, 'rb') as f:
        data = f.read()
    magic = data[:4]
    if magic == b'\xd4\xc3\xb2\xa1':
        e, nano = '<', False
    elif magic == b'\xa1\xb2\xc3\xd4':
        e, nano = '>', False
    elif magic == b'\x4d\x3c\xb2\xa1':
        e, nano = '<', True
    elif magic == b'\xa1\xb2\x3c\x4d':
        e, nano = '>', True
    else:
        sys.exit('not a classic pcap: ' + path)
    linktype = struct.unpack(e + 'I', data[20:24])[0]
    if linktype != 1:
        sys.exit('link type %d, expected 1 (Ethernet)' % linktype)
    off, n = 24, 0
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(e + 'IIII', data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        n += 1
        ts = '%d.%09d' % (sec, frac) if nano else '%d.%06d' % (sec, frac)
        print(json.dumps({'n': n, 'ts': ts, 'len': orig, 'eth': frame[:14].hex(),
                          'ip': frame[14:].hex()}))

if __name__ == '__main__':
    main(sys.argv[1])
