//! The resume form as a multipart/form-data body (RFC 7578), rendered once per virtual
//! user and sent many times.
//!
//! reqwest's own multipart form is built per request (fresh boundary, headers and
//! chunked streaming) and consumes its parts; here the body is a fixed list of shared
//! `Bytes` chunks, so each POST only clones reference counts, the images are never
//! copied, and the exact length goes out as `Content-Length`.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use reqwest::header::HeaderValue;

/// A rendered form: its chunks, total length and `Content-Type` (with the boundary).
#[derive(Clone)]
pub struct Form {
    chunks: Arc<[Bytes]>,
    len: u64,
    content_type: HeaderValue,
}

impl Form {
    /// Text `fields` first, then one `image` part per entry of `images` (JPEG). The
    /// boundary must not occur in any value; a long random one makes that certain
    /// enough for random image bytes.
    pub fn new(boundary: &str, fields: &[(&str, &str)], images: &[Bytes]) -> Form {
        let mut chunks = Vec::with_capacity(2 * images.len() + 1);
        let mut text = String::new();
        for (name, value) in fields {
            text.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        for (index, image) in images.iter().enumerate() {
            text.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; \
                 filename=\"portfolio-{}.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n",
                index + 1
            ));
            chunks.push(Bytes::from(std::mem::take(&mut text)));
            chunks.push(image.clone());
            text.push_str("\r\n");
        }
        text.push_str(&format!("--{boundary}--\r\n"));
        chunks.push(Bytes::from(text));

        let len = chunks.iter().map(|c| c.len() as u64).sum();
        let content_type =
            HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
                .expect("a boundary of ASCII letters and digits is a valid header value");
        Form {
            chunks: chunks.into(),
            len,
            content_type,
        }
    }

    /// The body's length in bytes.
    pub fn content_length(&self) -> u64 {
        self.len
    }

    pub fn content_type(&self) -> HeaderValue {
        self.content_type.clone()
    }

    pub fn body(&self) -> reqwest::Body {
        reqwest::Body::wrap(FormBody {
            chunks: Arc::clone(&self.chunks),
            next: 0,
            remaining: self.len,
        })
    }

    #[cfg(test)]
    fn to_vec(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }
}

/// One send of a `Form`: yields the shared chunks in order.
struct FormBody {
    chunks: Arc<[Bytes]>,
    next: usize,
    remaining: u64,
}

impl http_body::Body for FormBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        let Some(chunk) = this.chunks.get(this.next).cloned() else {
            return Poll::Ready(None);
        };
        this.next += 1;
        this.remaining -= chunk.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.chunks.len()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_fields_then_image_parts_with_one_closing_delimiter() {
        let form = Form::new(
            "XyZ",
            &[("name", "Kim"), ("task", "3")],
            &[
                Bytes::from_static(b"\xFF\xD8A"),
                Bytes::from_static(b"\xFF\xD8B"),
            ],
        );
        let expected = b"--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nKim\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"task\"\r\n\r\n3\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"portfolio-1.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\xFF\xD8A\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"portfolio-2.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\xFF\xD8B\r\n\
--XyZ--\r\n";
        assert_eq!(form.to_vec(), expected.to_vec());
        assert_eq!(form.content_length(), expected.len() as u64);
        assert_eq!(form.content_type(), "multipart/form-data; boundary=XyZ");
    }

    #[test]
    fn a_form_without_images_is_one_chunk() {
        let form = Form::new("b", &[("name", "x")], &[]);
        assert_eq!(form.chunks.len(), 1);
        assert!(form.to_vec().ends_with(b"--b--\r\n"));
    }
}
