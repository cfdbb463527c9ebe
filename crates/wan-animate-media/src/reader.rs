//! A bounded reader: every read is checked against the declared size, so a hostile length
//! field can never make us allocate or seek beyond the data, and big reads grow their buffer
//! only as bytes actually arrive.

use std::io::{Read, Seek, SeekFrom};

/// Reads up to this many bytes into a buffer allocated up front; longer reads grow as data
/// arrives, so a caller that overstates `byte_size` cannot make us allocate for nothing.
const PREALLOCATE: usize = 64 * 1024;

/// Wraps a seekable reader with the known size of the media, which starts at `base`.
pub(crate) struct Reader<R> {
    inner: R,
    base: u64,
    size: u64,
    pos: u64,
}

impl<R: Read + Seek> Reader<R> {
    /// The media starts at the reader's current position and is `size` bytes long.
    pub(crate) fn new(mut inner: R, size: u64) -> std::io::Result<Self> {
        let base = inner.stream_position()?;
        Ok(Self {
            inner,
            base,
            size,
            pos: 0,
        })
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    pub(crate) fn remaining(&self) -> u64 {
        self.size.saturating_sub(self.pos)
    }

    /// Up to `n` bytes from the start of the media, leaving the position at 0.
    pub(crate) fn peek_head(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        self.seek_to(0)?;
        let n = n.min(usize::try_from(self.size).unwrap_or(usize::MAX));
        let mut buf = vec![0; n];
        let got = read_full(&mut self.inner, &mut buf)?;
        buf.truncate(got);
        self.seek_to(0)?;
        Ok(buf)
    }

    /// Moves to `pos` bytes from the start of the media.
    pub(crate) fn seek_to(&mut self, pos: u64) -> std::io::Result<()> {
        let absolute = self.base.checked_add(pos).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek beyond u64")
        })?;
        self.inner.seek(SeekFrom::Start(absolute))?;
        self.pos = pos;
        Ok(())
    }

    /// Exactly `n` bytes, or `None` if fewer remain (a truncated file).
    pub(crate) fn take(&mut self, n: usize) -> std::io::Result<Option<Vec<u8>>> {
        let wanted = n as u64;
        if wanted > self.remaining() {
            return Ok(None);
        }
        let buf = if n <= PREALLOCATE {
            let mut buf = vec![0; n];
            let got = read_full(&mut self.inner, &mut buf)?;
            buf.truncate(got);
            buf
        } else {
            let mut buf = Vec::with_capacity(PREALLOCATE);
            (&mut self.inner).take(wanted).read_to_end(&mut buf)?;
            buf
        };
        self.pos = self.pos.saturating_add(buf.len() as u64);
        Ok((buf.len() == n).then_some(buf))
    }

    /// One byte, or `None` at the end of the media.
    pub(crate) fn byte(&mut self) -> std::io::Result<Option<u8>> {
        if self.remaining() == 0 {
            return Ok(None);
        }
        let mut b = [0u8; 1];
        if read_full(&mut self.inner, &mut b)? == 1 {
            self.pos = self.pos.saturating_add(1);
            Ok(Some(b[0]))
        } else {
            Ok(None)
        }
    }

    /// Seeks `n` bytes forward; `false` (and no move) if fewer remain.
    pub(crate) fn skip(&mut self, n: u64) -> std::io::Result<bool> {
        if n > self.remaining() {
            return Ok(false);
        }
        self.seek_to(self.pos.saturating_add(n))?;
        Ok(true)
    }
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..) {
        if rest.is_empty() {
            break;
        }
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n.min(rest.len()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn array<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    array(b, at).map(u16::from_be_bytes)
}
pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_be_bytes)
}
pub(crate) fn be64(b: &[u8], at: usize) -> Option<u64> {
    array(b, at).map(u64::from_be_bytes)
}
pub(crate) fn le16(b: &[u8], at: usize) -> Option<u16> {
    array(b, at).map(u16::from_le_bytes)
}
pub(crate) fn le32(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_le_bytes)
}
pub(crate) fn le24(b: &[u8], at: usize) -> Option<u32> {
    array::<3>(b, at).map(|[a, b, c]| u32::from_le_bytes([a, b, c, 0]))
}
pub(crate) fn fourcc(b: &[u8], at: usize) -> Option<[u8; 4]> {
    array(b, at)
}
