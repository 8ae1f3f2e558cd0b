//! Small but real images made in code, so the tests need no fixture files: a
//! baseline grayscale JPEG (every block flat mid-gray) and a grayscale PNG.

/// A decodable baseline JPEG of `width`×`height`, padded with comment segments to at
/// least `min_len` bytes.
pub fn jpeg(width: u16, height: u16, min_len: usize) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    out.extend_from_slice(&[
        0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
    ]);
    // One quantisation table of ones.
    out.extend_from_slice(&[0xFF, 0xDB, 0, 67, 0]);
    out.extend_from_slice(&[1; 64]);
    // Start of frame: 8-bit, one component, no subsampling, table 0.
    out.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8]);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&[1, 1, 0x11, 0]);
    // DC and AC Huffman tables, each with the single one-bit code `0` for symbol 0:
    // "no DC change" and "end of block".
    for class in [0x00, 0x10] {
        out.extend_from_slice(&[0xFF, 0xC4, 0, 20, class, 1]);
        out.extend_from_slice(&[0; 15]);
        out.push(0);
    }
    while out.len() + 12 + blocks_len(width, height) < min_len {
        let room = min_len - (out.len() + 12 + blocks_len(width, height));
        let payload = room.saturating_sub(4).clamp(1, 65_000);
        out.extend_from_slice(&[0xFF, 0xFE]);
        out.extend_from_slice(&((payload + 2) as u16).to_be_bytes());
        out.extend(std::iter::repeat_n(b'x', payload));
    }
    out.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
    out.extend(scan_data(width, height));
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

fn blocks(width: u16, height: u16) -> usize {
    width.div_ceil(8) as usize * height.div_ceil(8) as usize
}

fn blocks_len(width: u16, height: u16) -> usize {
    (blocks(width, height) * 2).div_ceil(8)
}

/// Two zero bits per block (DC unchanged, end of block), padded with ones.
fn scan_data(width: u16, height: u16) -> Vec<u8> {
    let bits = blocks(width, height) * 2;
    let mut data = vec![0u8; bits.div_ceil(8)];
    let pad = data.len() * 8 - bits;
    if pad > 0 {
        let last = data.len() - 1;
        data[last] = (1u8 << pad) - 1;
    }
    data
}

/// A grayscale PNG with a diagonal gradient, stored uncompressed.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0);
        raw.extend((0..width).map(|x| ((x + y) * 255 / (width + height).max(1)) as u8));
    }
    let mut zlib = vec![0x78, 0x01];
    let chunks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == chunks.len()));
        let len = chunk.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(chunk);
    }
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// A two-colour GIF whose pixels are all colour 0, LZW-coded without compression (a
/// clear code every two pixels keeps every code three bits wide).
pub fn gif(width: u16, height: u16) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&[0x80, 0, 0]); // a global table of 2 colours
    out.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    out.push(0x2C);
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.push(0);
    out.push(2); // minimum code size
    let (clear, end) = (4u32, 5u32);
    let pixels = usize::from(width) * usize::from(height);
    let mut codes = Vec::new();
    for pair in 0..pixels.div_ceil(2) {
        codes.push(clear);
        codes.push(0);
        if pair * 2 + 1 < pixels {
            codes.push(0);
        }
    }
    codes.push(end);
    let mut data = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for code in codes {
        acc |= code << bits;
        bits += 3;
        while bits >= 8 {
            data.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        data.push(acc as u8);
    }
    for block in data.chunks(255) {
        out.push(block.len() as u8);
        out.extend_from_slice(block);
    }
    out.push(0);
    out.push(0x3B);
    out
}
