//! Portfolio images for the click workload: real baseline JPEGs of a chosen size, made
//! without an image library.
//!
//! A JPEG decoder reads quantised DCT coefficients, so the generator writes coefficients
//! directly: each 8×8 block gets a DC value that wanders from its neighbour's and a random
//! handful of low-frequency AC values, entropy-coded with Huffman tables declared in the
//! file. That is a complete, decodable grayscale image (soft noisy tiles) with no DCT to
//! compute. The image grows a row of blocks at a time until the next row would pass the
//! target size; a comment segment of random bytes then makes up the difference, so sizes
//! are exact and no two seeds give the same bytes.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// Every quantisation step is 8: coefficients of ±15 stay well inside the 8-bit range.
const QUANT_STEP: u8 = 8;
/// Most AC coefficients one block carries; they sit at zig-zag positions 1..=k.
const MAX_AC_PER_BLOCK: usize = 12;
/// Width and height are capped where upload checks (20 000 px) would refuse them.
const MAX_BLOCKS_PER_SIDE: usize = 2_000;
/// A comment segment holds at most this many bytes after its 2-byte length.
const MAX_COMMENT: usize = 65_533;

/// DC table: the standard luminance code lengths of JPEG Annex K, for categories 0..=11.
const DC_COUNTS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_SYMBOLS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
/// AC table: only what the generator emits, run 0 with sizes 1..=4 (0x01..0x04) and
/// end-of-block (0x00). The code lengths leave the all-ones code unused, as JPEG requires.
const AC_COUNTS: [u8; 16] = [0, 2, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const AC_SYMBOLS: [u8; 5] = [0x01, 0x02, 0x00, 0x03, 0x04];
const END_OF_BLOCK: u8 = 0x00;

/// Everything but the entropy-coded scan and the padding comment: SOI, APP0 (JFIF),
/// DQT, SOF0, two DHT, SOS and EOI.
const FIXED_BYTES: usize =
    2 + 18 + 69 + 13 + (21 + DC_SYMBOLS.len()) + (21 + AC_SYMBOLS.len()) + 10 + 2;

/// A baseline JPEG of `target` bytes (or the smallest possible, one row of blocks, when
/// `target` is below that). The same seed gives the same bytes.
pub fn generate(target: usize, seed: u64) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let dc_code = HuffmanCode::new(&DC_COUNTS, &DC_SYMBOLS);
    let ac_code = HuffmanCode::new(&AC_COUNTS, &AC_SYMBOLS);

    let scan_budget = target.saturating_sub(FIXED_BYTES);
    // About five bytes per block on average: aim for a roughly square picture.
    let estimated_blocks = (scan_budget / 5).max(1);
    let width_blocks = (estimated_blocks as f64).sqrt().ceil() as usize;
    let width_blocks = width_blocks.clamp(1, MAX_BLOCKS_PER_SIDE);

    let mut scan = BitWriter::default();
    let mut previous_dc = 0;
    let mut rows = 0;
    while rows < MAX_BLOCKS_PER_SIDE {
        let mark = scan.mark();
        for _ in 0..width_blocks {
            encode_block(&mut scan, &mut rng, &mut previous_dc, &dc_code, &ac_code);
        }
        if rows > 0 && scan.finished_len_at_most() > scan_budget {
            scan.rewind(mark);
            break;
        }
        rows += 1;
    }
    let scan = scan.finish();

    let mut out = Vec::with_capacity(target.max(FIXED_BYTES + scan.len()));
    out.extend_from_slice(&[0xFF, 0xD8]);
    write_jfif(&mut out);
    let padding = target.saturating_sub(FIXED_BYTES + scan.len());
    write_comments(&mut out, padding, &mut rng);
    write_quantisation(&mut out);
    write_frame(&mut out, width_blocks * 8, rows * 8);
    write_huffman(&mut out, 0x00, &DC_COUNTS, &DC_SYMBOLS);
    write_huffman(&mut out, 0x10, &AC_COUNTS, &AC_SYMBOLS);
    write_scan_header(&mut out);
    out.extend_from_slice(&scan);
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

fn encode_block(
    out: &mut BitWriter,
    rng: &mut SmallRng,
    previous_dc: &mut i32,
    dc_code: &HuffmanCode,
    ac_code: &HuffmanCode,
) {
    // DC in quantised units: ±60 × 8 keeps the tile mean within ±60 grey levels of mid-grey.
    let dc = (*previous_dc + rng.random_range(-6..=6)).clamp(-60, 60);
    let (category, bits) = magnitude(dc - *previous_dc);
    *previous_dc = dc;
    dc_code.put(out, category);
    out.put(bits, category);

    let coefficients = rng.random_range(0..=MAX_AC_PER_BLOCK);
    for _ in 0..coefficients {
        let value = match rng.random_range(-15..=14) {
            v if v >= 0 => v + 1,
            v => v,
        };
        let (size, bits) = magnitude(value);
        ac_code.put(out, size); // run of zero preceding zeros, so the symbol is the size
        out.put(bits, size);
    }
    ac_code.put(out, END_OF_BLOCK);
}

/// JPEG's (category, extra bits) form of a coefficient: negative values are stored as
/// `value - 1` in `category` bits.
fn magnitude(value: i32) -> (u8, u32) {
    if value == 0 {
        return (0, 0);
    }
    let category = 32 - value.unsigned_abs().leading_zeros();
    let mask = (1u32 << category) - 1;
    let bits = if value > 0 {
        value as u32
    } else {
        (value - 1) as u32 & mask
    };
    (category as u8, bits)
}

/// Canonical Huffman codes built from a DHT's counts and symbols (JPEG Annex C), so the
/// encoder and the table written into the file can never disagree.
struct HuffmanCode {
    code: [u16; 256],
    length: [u8; 256],
}

impl HuffmanCode {
    fn new(counts: &[u8; 16], symbols: &[u8]) -> Self {
        let mut table = HuffmanCode {
            code: [0; 256],
            length: [0; 256],
        };
        let mut code = 0u16;
        let mut symbols = symbols.iter();
        for (index, &count) in counts.iter().enumerate() {
            for _ in 0..count {
                let symbol = *symbols.next().expect("counts match symbols") as usize;
                table.code[symbol] = code;
                table.length[symbol] = index as u8 + 1;
                code += 1;
            }
            code <<= 1;
        }
        table
    }

    fn put(&self, out: &mut BitWriter, symbol: u8) {
        let symbol = symbol as usize;
        debug_assert!(self.length[symbol] > 0, "symbol {symbol:#x} has no code");
        out.put(u32::from(self.code[symbol]), self.length[symbol]);
    }
}

/// Entropy-coded bytes, most significant bit first, with a 0x00 stuffed after every 0xFF.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    pending: u32,
    pending_bits: u8,
}

#[derive(Clone, Copy)]
struct Mark {
    len: usize,
    pending: u32,
    pending_bits: u8,
}

impl BitWriter {
    fn put(&mut self, bits: u32, count: u8) {
        if count == 0 {
            return;
        }
        let mask = (1u32 << count) - 1;
        self.pending = (self.pending << count) | (bits & mask);
        self.pending_bits += count;
        while self.pending_bits >= 8 {
            self.pending_bits -= 8;
            let byte = (self.pending >> self.pending_bits) as u8;
            self.bytes.push(byte);
            if byte == 0xFF {
                self.bytes.push(0x00);
            }
        }
        self.pending &= (1u32 << self.pending_bits) - 1;
    }

    fn mark(&self) -> Mark {
        Mark {
            len: self.bytes.len(),
            pending: self.pending,
            pending_bits: self.pending_bits,
        }
    }

    fn rewind(&mut self, mark: Mark) {
        self.bytes.truncate(mark.len);
        self.pending = mark.pending;
        self.pending_bits = mark.pending_bits;
    }

    /// An upper bound of `finish()`'s length: one padded byte, maybe stuffed.
    fn finished_len_at_most(&self) -> usize {
        self.bytes.len() + 2
    }

    /// Pads the last byte with 1 bits, as the standard asks.
    fn finish(mut self) -> Vec<u8> {
        if self.pending_bits > 0 {
            let fill = 8 - self.pending_bits;
            self.put((1 << fill) - 1, fill);
        }
        self.bytes
    }
}

fn segment(out: &mut Vec<u8>, marker: u8, payload_len: usize) {
    let len = u16::try_from(payload_len + 2).expect("segment fits 64 KiB");
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&len.to_be_bytes());
}

fn write_jfif(out: &mut Vec<u8>) {
    segment(out, 0xE0, 14);
    out.extend_from_slice(b"JFIF\0");
    out.extend_from_slice(&[1, 1, 0, 0, 1, 0, 1, 0, 0]); // v1.1, aspect 1:1, no thumbnail
}

/// `padding` bytes of comment segments holding random bytes. Fewer than 4 bytes cannot
/// form a segment; the image then stays that much under its target.
fn write_comments(out: &mut Vec<u8>, mut padding: usize, rng: &mut SmallRng) {
    while padding >= 4 {
        let payload = (padding - 4).min(MAX_COMMENT);
        // Leave a remainder that can still form a segment, or none.
        let payload = match padding - 4 - payload {
            1..=3 => payload - 4,
            _ => payload,
        };
        segment(out, 0xFE, payload);
        let start = out.len();
        out.resize(start + payload, 0);
        rng.fill(&mut out[start..]);
        padding -= payload + 4;
    }
}

fn write_quantisation(out: &mut Vec<u8>) {
    segment(out, 0xDB, 65);
    out.push(0x00); // 8-bit values, table 0
    out.extend_from_slice(&[QUANT_STEP; 64]);
}

fn write_frame(out: &mut Vec<u8>, width: usize, height: usize) {
    segment(out, 0xC0, 9);
    out.push(8); // bits per sample
    out.extend_from_slice(&(height as u16).to_be_bytes());
    out.extend_from_slice(&(width as u16).to_be_bytes());
    out.extend_from_slice(&[1, 1, 0x11, 0]); // one component: id 1, 1×1 sampling, table 0
}

fn write_huffman(out: &mut Vec<u8>, class_and_id: u8, counts: &[u8; 16], symbols: &[u8]) {
    segment(out, 0xC4, 1 + 16 + symbols.len());
    out.push(class_and_id);
    out.extend_from_slice(counts);
    out.extend_from_slice(symbols);
}

fn write_scan_header(out: &mut Vec<u8>) {
    segment(out, 0xDA, 6);
    out.extend_from_slice(&[1, 1, 0x00]); // one component, DC and AC table 0
    out.extend_from_slice(&[0, 63, 0]); // full spectral range, no approximation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (jpeg_decoder::ImageInfo, Vec<u8>) {
        let mut decoder = jpeg_decoder::Decoder::new(bytes);
        let pixels = decoder.decode().expect("the generated JPEG decodes");
        (decoder.info().expect("header read"), pixels)
    }

    #[test]
    fn generated_images_are_complete_decodable_jpegs_of_the_asked_size() {
        for target in [2048, 700, 10_000, 100_000, 300_000] {
            let bytes = generate(target, 7);
            assert_eq!(bytes.len(), target, "size for target {target}");
            assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF], "SOI then a marker");
            assert_eq!(&bytes[bytes.len() - 2..], &[0xFF, 0xD9], "ends with EOI");

            let (info, pixels) = decode(&bytes);
            assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::L8);
            assert_eq!(pixels.len(), info.width as usize * info.height as usize);
            assert!(info.width >= 8 && info.height >= 8);
            // The header check the service does.
            let size = imagesize::blob_size(&bytes).expect("imagesize reads the header");
            assert_eq!(
                (size.width, size.height),
                (info.width as usize, info.height as usize)
            );
        }
    }

    #[test]
    fn pictures_are_not_flat() {
        let (_, pixels) = decode(&generate(4096, 1));
        let (lo, hi) = pixels
            .iter()
            .fold((255u8, 0u8), |(lo, hi), &p| (lo.min(p), hi.max(p)));
        assert!(hi - lo > 40, "pixel range {lo}..{hi}");
    }

    #[test]
    fn seeds_give_different_images_and_the_same_seed_the_same() {
        assert_eq!(generate(2048, 1), generate(2048, 1));
        assert_ne!(generate(2048, 1), generate(2048, 2));
        // Pixels differ too, not only the comment padding.
        assert_ne!(decode(&generate(2048, 1)).1, decode(&generate(2048, 2)).1);
    }

    #[test]
    fn a_target_too_small_still_gives_one_row_of_blocks() {
        let bytes = generate(10, 3);
        let (info, _) = decode(&bytes);
        assert_eq!(info.height, 8);
        assert!(bytes.len() > 10);
    }

    #[test]
    fn negative_coefficients_use_the_ones_complement_form() {
        assert_eq!(magnitude(0), (0, 0));
        assert_eq!(magnitude(1), (1, 1));
        assert_eq!(magnitude(-1), (1, 0));
        assert_eq!(magnitude(-3), (2, 0));
        assert_eq!(magnitude(-2), (2, 1));
        assert_eq!(magnitude(15), (4, 15));
        assert_eq!(magnitude(-15), (4, 0));
    }
}
