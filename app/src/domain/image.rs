//! Portfolio images, judged by their content and never by their file name: the magic
//! bytes say which of the four accepted formats it claims to be, the header must
//! decode to sane dimensions, and the file must end the way that format ends (which
//! catches uploads cut short).
//!
//! The service never decodes an image, but browsers and any thumbnailer do, and they
//! allocate for the declared canvas: a 58-byte PNG may declare 20,000 × 20,000 pixels
//! (1.6 GB of RGBA). So the declared size is bounded on its own (a side, the pixel
//! count) and against the file's size: more pixels per byte than any of these formats
//! can really encode means the header lies, the shape of a decompression bomb.

use super::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
    Webp,
    Gif,
}

impl ImageKind {
    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "jpg",
            ImageKind::Png => "png",
            ImageKind::Webp => "webp",
            ImageKind::Gif => "gif",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
            ImageKind::Webp => "image/webp",
            ImageKind::Gif => "image/gif",
        }
    }

    fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageKind::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageKind::Png)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageKind::Webp)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageKind::Gif)
        } else {
            None
        }
    }

    fn is_complete(self, bytes: &[u8]) -> bool {
        match self {
            // Encoders may pad after the End Of Image marker; ignore trailing zeros.
            ImageKind::Jpeg => {
                let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                bytes[..end].ends_with(&[0xFF, 0xD9])
            }
            ImageKind::Png => {
                bytes.len() >= 12
                    && bytes[bytes.len() - 12..].starts_with(&[0, 0, 0, 0])
                    && &bytes[bytes.len() - 8..bytes.len() - 4] == b"IEND"
            }
            ImageKind::Webp => {
                let declared =
                    u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
                declared + 8 <= bytes.len()
            }
            ImageKind::Gif => bytes.last() == Some(&0x3B),
        }
    }
}

/// An uploaded image whose content has been checked.
#[derive(Debug, Clone)]
pub struct SniffedImage {
    pub kind: ImageKind,
    pub width: u32,
    pub height: u32,
    pub bytes: bytes::Bytes,
}

impl SniffedImage {
    /// Longest side accepted; a portfolio image is a photo or a scan, not a poster.
    pub const MAX_DIMENSION: usize = 10_000;
    /// 40 megapixels: above a full-frame camera's photo, 160 MB once decoded to RGBA.
    pub const MAX_PIXELS: usize = 40_000_000;
    /// Deflate stores at most about 1,032 bytes in one, so even a blank 1-bit PNG
    /// needs a byte per ~8,000 pixels; GIF and JPEG need far more. Twice that margin
    /// leaves every real image in and every lying header out.
    pub const MAX_PIXELS_PER_BYTE: usize = 16_384;

    pub fn parse(bytes: bytes::Bytes) -> Result<Self, ValidationError> {
        if bytes.is_empty() {
            return Err(ValidationError::new("image", "image is empty"));
        }
        let kind = ImageKind::sniff(&bytes).ok_or_else(|| {
            ValidationError::new(
                "image",
                "not an image: only JPEG, PNG, WebP and GIF are accepted",
            )
        })?;
        let size = imagesize::blob_size(&bytes).map_err(|_| {
            ValidationError::new(
                "image",
                format!("{} header cannot be decoded", kind_name(kind)),
            )
        })?;
        check_dimensions(size.width, size.height, bytes.len())?;
        if !kind.is_complete(&bytes) {
            return Err(ValidationError::new(
                "image",
                format!("{} is truncated", kind_name(kind)),
            ));
        }
        Ok(SniffedImage {
            kind,
            width: size.width as u32,
            height: size.height as u32,
            bytes,
        })
    }
}

fn check_dimensions(width: usize, height: usize, file_len: usize) -> Result<(), ValidationError> {
    if width == 0
        || height == 0
        || width > SniffedImage::MAX_DIMENSION
        || height > SniffedImage::MAX_DIMENSION
    {
        return Err(ValidationError::new(
            "image",
            format!(
                "image dimensions {width}×{height} are out of range (1 to {} pixels a side)",
                SniffedImage::MAX_DIMENSION
            ),
        ));
    }
    let pixels = width * height;
    if pixels > SniffedImage::MAX_PIXELS {
        return Err(ValidationError::new(
            "image",
            format!(
                "image has {width}×{height} pixels, more than the {} megapixels allowed",
                SniffedImage::MAX_PIXELS / 1_000_000
            ),
        ));
    }
    if pixels / file_len.max(1) > SniffedImage::MAX_PIXELS_PER_BYTE {
        return Err(ValidationError::new(
            "image",
            format!(
                "image declares {width}×{height} pixels in {file_len} bytes, which no real \
                 image does"
            ),
        ));
    }
    Ok(())
}

fn kind_name(kind: ImageKind) -> &'static str {
    match kind {
        ImageKind::Jpeg => "JPEG",
        ImageKind::Png => "PNG",
        ImageKind::Webp => "WebP",
        ImageKind::Gif => "GIF",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gif(width: u16, height: u16) -> Vec<u8> {
        let mut b = b"GIF89a".to_vec();
        b.extend_from_slice(&width.to_le_bytes());
        b.extend_from_slice(&height.to_le_bytes());
        b.extend_from_slice(&[0, 0, 0]);
        b.push(0x3B);
        b
    }

    /// An extended-format WebP header (VP8X), which carries the canvas size.
    fn webp(width: u32, height: u32) -> Vec<u8> {
        let mut chunk = b"VP8X".to_vec();
        chunk.extend_from_slice(&10u32.to_le_bytes());
        chunk.extend_from_slice(&[0, 0, 0, 0]);
        chunk.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
        chunk.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
        let mut b = b"RIFF".to_vec();
        b.extend_from_slice(&((4 + chunk.len()) as u32).to_le_bytes());
        b.extend_from_slice(b"WEBP");
        b.extend_from_slice(&chunk);
        b
    }

    fn parse(bytes: Vec<u8>) -> Result<SniffedImage, ValidationError> {
        SniffedImage::parse(bytes::Bytes::from(bytes))
    }

    #[test]
    fn gif_and_webp_are_recognised_with_their_sizes() {
        let g = parse(gif(3, 2)).unwrap();
        assert_eq!((g.kind, g.width, g.height), (ImageKind::Gif, 3, 2));
        let w = parse(webp(640, 480)).unwrap();
        assert_eq!((w.kind, w.width, w.height), (ImageKind::Webp, 640, 480));
        assert_eq!(w.kind.extension(), "webp");
    }

    #[test]
    fn files_cut_short_are_refused() {
        let g = gif(3, 2);
        assert!(parse(g[..g.len() - 1].to_vec()).is_err());
        let w = webp(640, 480);
        assert!(parse(w[..w.len() - 2].to_vec()).is_err());
        assert!(parse(b"\xFF\xD8\xFF".to_vec()).is_err());
    }

    #[test]
    fn other_content_is_refused_whatever_it_is_called() {
        assert!(parse(Vec::new()).is_err());
        assert!(parse(b"%PDF-1.7 not an image".to_vec()).is_err());
        assert!(parse(b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec()).is_err());
        assert!(parse(gif(0, 2)).is_err(), "zero width");
    }

    #[test]
    fn declared_sizes_are_bounded_alone_and_against_the_file_size() {
        let refused = |w: u32, h: u32, len: usize| {
            check_dimensions(w as usize, h as usize, len)
                .unwrap_err()
                .message
        };
        assert!(refused(10_001, 10, 1 << 20).contains("out of range"));
        assert!(refused(8_000, 6_000, 1 << 24).contains("megapixels"));
        assert!(refused(2_000, 2_000, 58).contains("no real image"));
        // A 6,000 × 6,000 photo of 2 MB, and a blank 1-bit 4,000 × 3,000 scan of 1.5 KB.
        assert!(check_dimensions(6_000, 6_000, 2_000_000).is_ok());
        assert!(check_dimensions(4_000, 3_000, 1_500).is_ok());
        // A WebP header alone declaring 10,000 × 4,000 pixels.
        assert!(parse(webp(10_000, 4_000)).is_err());
    }
}
