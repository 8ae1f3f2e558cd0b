// Small real images made in code (same construction as the Rust API tests): a
// baseline grayscale JPEG whose blocks are all mid-gray, and an uncompressed PNG.

export function jpeg(width, height) {
  const out = [0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0];
  out.push(0xff, 0xdb, 0, 67, 0, ...new Array(64).fill(1));
  out.push(0xff, 0xc0, 0, 11, 8, height >> 8, height & 255, width >> 8, width & 255, 1, 1, 0x11, 0);
  for (const cls of [0x00, 0x10]) {
    out.push(0xff, 0xc4, 0, 20, cls, 1, ...new Array(15).fill(0), 0);
  }
  out.push(0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0);
  const bits = Math.ceil(width / 8) * Math.ceil(height / 8) * 2;
  const data = new Array(Math.ceil(bits / 8)).fill(0);
  const pad = data.length * 8 - bits;
  if (pad > 0) data[data.length - 1] = (1 << pad) - 1;
  out.push(...data, 0xff, 0xd9);
  return Buffer.from(out);
}

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

export function png(width, height) {
  const raw = [];
  for (let y = 0; y < height; y++) {
    raw.push(0);
    for (let x = 0; x < width; x++) raw.push(Math.floor(((x + y) * 255) / (width + height)));
  }
  let a = 1, b = 0;
  for (const x of raw) { a = (a + x) % 65521; b = (b + a) % 65521; }
  const zlib = Buffer.alloc(2 + 5 + raw.length + 4);
  zlib.set([0x78, 0x01, 1, raw.length & 255, raw.length >> 8, ~raw.length & 255, (~raw.length >> 8) & 255]);
  zlib.set(raw, 7);
  zlib.writeUInt32BE(((b << 16) | a) >>> 0, 7 + raw.length);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib), chunk('IEND', Buffer.alloc(0)),
  ]);
}
