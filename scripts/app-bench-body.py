"""Writes the multipart body of one resume save (two 2 KiB JPEGs) for scripts/app-bench.sh."""
import sys


def jpeg(width, height, min_len):
    head = bytes([0xFF, 0xD8, 0xFF, 0xE0, 0, 16]) + b"JFIF" + bytes([0, 1, 1, 0, 0, 1, 0, 1, 0, 0])
    head += bytes([0xFF, 0xDB, 0, 67, 0]) + bytes([1] * 64)
    head += bytes([0xFF, 0xC0, 0, 11, 8, height >> 8, height & 255, width >> 8, width & 255, 1, 1, 0x11, 0])
    for cls in (0x00, 0x10):
        head += bytes([0xFF, 0xC4, 0, 20, cls, 1] + [0] * 15 + [0])
    bits = -(-width // 8) * -(-height // 8) * 2
    data = bytearray(-(-bits // 8))
    pad = len(data) * 8 - bits
    if pad:
        data[-1] = (1 << pad) - 1
    tail = bytes([0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]) + bytes(data) + bytes([0xFF, 0xD9])
    room = min_len - len(head) - len(tail) - 4
    if room > 0:
        head += bytes([0xFF, 0xFE]) + (room + 2).to_bytes(2, "big") + b"x" * room
    return head + tail


boundary = "modubenchboundary7d1f"
parts = []
for name, value in (("name", "Bench User"), ("motivation", "Saving ten times in one click."), ("task", "3")):
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
for i in range(2):
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p{i}.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode() + jpeg(64, 64, 2048) + b"\r\n"
    )
parts.append(f"--{boundary}--\r\n".encode())
open(sys.argv[1], "wb").write(b"".join(parts))
open(sys.argv[2], "w").write(boundary)
