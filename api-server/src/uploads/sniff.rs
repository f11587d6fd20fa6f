//! What an uploaded file really is, read from its magic bytes (the client's MIME type and file
//! name are never trusted), plus the facts read from headers: image size, video duration.

/// A family of accepted types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// jpeg, png, gif, webp.
    Image,
    /// mp4, mov, avi, wmv, webm.
    Video,
    /// jpeg, png, gif, pdf (onboarding documents).
    Document,
}

impl Accept {
    fn allowed(self) -> &'static [&'static str] {
        match self {
            Self::Image => &["image/jpeg", "image/png", "image/gif", "image/webp"],
            Self::Video => &[
                "video/mp4",
                "video/quicktime",
                "video/x-msvideo",
                "video/x-ms-wmv",
                "video/webm",
            ],
            Self::Document => &["image/jpeg", "image/png", "image/gif", "application/pdf"],
        }
    }

    /// The 400 message for anything else (the contract's filter messages).
    pub fn rejection(self) -> &'static str {
        match self {
            Self::Image => "Only image files are allowed (jpeg, jpg, png, gif, webp)",
            Self::Video => "Only video files are allowed (mp4, mov, avi, wmv, webm)",
            Self::Document => "Only jpeg, jpg, png, gif and pdf files are allowed",
        }
    }
}

/// A recognised file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    /// MIME type served back.
    pub mime: &'static str,
    /// Extension of stored names (`jpg`, `png`, `pdf`…).
    pub ext: &'static str,
}

/// The type of `bytes` when it is one `accept` allows.
pub fn sniff(bytes: &[u8], accept: Accept) -> Option<Sniffed> {
    let kind = infer::get(bytes)?;
    let mime = accept
        .allowed()
        .iter()
        .copied()
        .find(|m| *m == kind.mime_type())?;
    Some(Sniffed {
        mime,
        ext: ext_of(mime),
    })
}

fn ext_of(mime: &str) -> &'static str {
    match mime {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "application/pdf" => "pdf",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "video/x-msvideo" => "avi",
        "video/x-ms-wmv" => "wmv",
        "video/webm" => "webm",
        _ => "bin",
    }
}

/// The MIME type of a stored file, from the extension we gave it.
pub fn mime_of_ext(ext: &str) -> &'static str {
    match ext {
        "jpg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "avi" => "video/x-msvideo",
        "wmv" => "video/x-ms-wmv",
        "webm" => "video/webm",
        _ => "application/octet-stream",
    }
}

/// Whether a stored extension belongs to `accept`.
pub fn ext_is(ext: &str, accept: Accept) -> bool {
    accept.allowed().iter().any(|m| ext_of(m) == ext)
}

/// Width and height from an image header; `None` for a truncated or corrupt header.
pub fn image_size(bytes: &[u8]) -> Option<(u64, u64)> {
    imagesize::blob_size(bytes)
        .ok()
        .map(|s| (s.width as u64, s.height as u64))
}

/// Duration in seconds of an MP4/QuickTime file, from its `moov/mvhd` box; `None` for other
/// containers or when the box is missing.
pub fn mp4_duration(bytes: &[u8]) -> Option<f64> {
    moov_duration(find_box(bytes, b"moov")?)
}

/// Duration in seconds from the payload of a `moov` box (its `mvhd` child).
pub fn moov_duration(moov: &[u8]) -> Option<f64> {
    let mvhd = find_box(moov, b"mvhd")?;
    let version = *mvhd.first()?;
    let (scale_at, duration_len) = if version == 1 { (20, 8) } else { (12, 4) };
    let timescale = be(mvhd.get(scale_at..scale_at + 4)?);
    let duration = be(mvhd.get(scale_at + 4..scale_at + 4 + duration_len)?);
    (timescale > 0).then(|| duration as f64 / timescale as f64)
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

/// The payload of the first box of type `kind` among the boxes laid end to end in `data`.
fn find_box<'a>(mut data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    while data.len() >= 8 {
        let size32 = be(&data[..4]);
        let (header, size) = match size32 {
            1 => (16, be(data.get(8..16)?)),
            0 => (8, data.len() as u64),
            n => (8, n),
        };
        let size = usize::try_from(size).ok()?;
        if size < header || size > data.len() {
            return None;
        }
        if &data[4..8] == kind {
            return Some(&data[header..size]);
        }
        data = &data[size..];
    }
    None
}

/// Most bytes of a `moov` box kept while a video streams past (`mvhd` comes first in it).
const MOOV_KEPT: usize = 64 * 1024;

/// Follows the top-level boxes of an MP4/QuickTime file as it streams past, keeping the start
/// of its `moov` box (which may come at the end of the file) to read the duration from.
#[derive(Debug, Default)]
pub struct Mp4Boxes {
    at: u64,
    next: u64,
    header: Vec<u8>,
    moov: Option<Vec<u8>>,
    moov_left: u64,
    done: bool,
}

impl Mp4Boxes {
    /// Feed the next bytes of the file.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() && !self.done {
            let n = if self.moov_left > 0 {
                self.keep_moov(chunk)
            } else if self.at < self.next {
                self.skip_box(chunk)
            } else {
                self.read_header(chunk)
            };
            chunk = &chunk[n..];
        }
    }

    /// Take bytes of the `moov` box, keeping up to [`MOOV_KEPT`]; returns the bytes taken.
    fn keep_moov(&mut self, chunk: &[u8]) -> usize {
        let n = chunk
            .len()
            .min(usize::try_from(self.moov_left).unwrap_or(usize::MAX));
        if let Some(moov) = self.moov.as_mut() {
            let room = MOOV_KEPT.saturating_sub(moov.len());
            moov.extend_from_slice(&chunk[..n.min(room)]);
        }
        self.moov_left -= n as u64;
        self.at += n as u64;
        n
    }

    /// Pass over bytes of a box that is not followed; returns the bytes taken.
    fn skip_box(&mut self, chunk: &[u8]) -> usize {
        let n = chunk
            .len()
            .min(usize::try_from(self.next - self.at).unwrap_or(usize::MAX));
        self.at += n as u64;
        n
    }

    /// Take bytes of the next box header (8 bytes, or 16 with a 64-bit size) and, once it is
    /// whole, start on its box; returns the bytes taken.
    fn read_header(&mut self, chunk: &[u8]) -> usize {
        let need = if self.header.len() >= 8 && be(&self.header[..4]) == 1 {
            16
        } else {
            8
        };
        let n = chunk.len().min(need - self.header.len());
        self.header.extend_from_slice(&chunk[..n]);
        self.at += n as u64;
        if self.header.len() >= need && !(need == 8 && be(&self.header[..4]) == 1) {
            self.start_box();
        }
        n
    }

    /// A whole header was read: note where its box ends, and keep the box when it is `moov`.
    fn start_box(&mut self) {
        let size = match be(&self.header[..4]) {
            1 => be(&self.header[8..16]),
            n => n,
        };
        let header = self.header.len() as u64;
        if size < header {
            // Size 0 (box to the end of the file) or corrupt: nothing more to follow.
            self.done = true;
            return;
        }
        if &self.header[4..8] == b"moov" {
            self.moov = Some(Vec::new());
            self.moov_left = size - header;
        }
        self.next = self.at + (size - header);
        self.header.clear();
    }

    /// The duration, once the `moov` box went past.
    pub fn duration(&self) -> Option<f64> {
        self.moov.as_deref().and_then(moov_duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_1X1: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0,
        0, 3, 0, 0, 0, 2, 8, 6, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn types_come_from_magic_bytes_not_names() {
        assert_eq!(sniff(PNG_1X1, Accept::Image).map(|s| s.ext), Some("png"));
        assert_eq!(
            sniff(b"%PDF-1.7\n...", Accept::Document).map(|s| s.ext),
            Some("pdf")
        );
        assert_eq!(sniff(b"%PDF-1.7\n...", Accept::Image), None);
        assert_eq!(sniff(PNG_1X1, Accept::Video), None);
        assert_eq!(sniff(b"just some text", Accept::Image), None);
    }

    #[test]
    fn image_dimensions_are_read_from_the_header() {
        assert_eq!(image_size(PNG_1X1), Some((3, 2)));
        assert_eq!(image_size(b"garbage"), None);
    }

    #[test]
    fn mp4_duration_is_read_from_mvhd() {
        let mut mvhd = vec![0u8; 4 + 4 + 4];
        mvhd.extend(1000u32.to_be_bytes());
        mvhd.extend(2500u32.to_be_bytes());
        let mut mvhd_box = ((mvhd.len() + 8) as u32).to_be_bytes().to_vec();
        mvhd_box.extend(b"mvhd");
        mvhd_box.extend(&mvhd);
        let mut moov = ((mvhd_box.len() + 8) as u32).to_be_bytes().to_vec();
        moov.extend(b"moov");
        moov.extend(&mvhd_box);
        let mut file = vec![0, 0, 0, 16];
        file.extend(b"ftypisom\0\0\0\0");
        file.extend(&moov);
        assert_eq!(mp4_duration(&file), Some(2.5));
        // The same, streamed in pieces of every size, with a box before `moov`.
        let mut padded = file[..16].to_vec();
        padded.extend(24u32.to_be_bytes());
        padded.extend(b"mdat");
        padded.extend([7u8; 16]);
        padded.extend(&file[16..]);
        for piece in 1..padded.len() {
            let mut boxes = Mp4Boxes::default();
            padded.chunks(piece).for_each(|c| boxes.feed(c));
            assert_eq!(boxes.duration(), Some(2.5), "pieces of {piece}");
        }
        assert_eq!(mp4_duration(b"\0\0\0\x08free"), None);
    }
}
