//! A bounded reader: every read is checked against the file size, so a hostile length
//! field can never make us allocate or seek beyond the data.

use std::io::{Read, Seek, SeekFrom};

/// Wraps a seekable reader with the known total size.
pub(crate) struct Reader<R> {
    inner: R,
    size: u64,
    pos: u64,
}

impl<R: Read + Seek> Reader<R> {
    pub(crate) fn new(inner: R, size: u64) -> Self {
        Self {
            inner,
            size,
            pos: 0,
        }
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

    /// Up to `n` bytes from the start, leaving the position at 0.
    pub(crate) fn peek_head(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        self.seek_to(0)?;
        let n = n.min(self.size as usize);
        let mut buf = vec![0; n];
        let got = read_full(&mut self.inner, &mut buf)?;
        buf.truncate(got);
        self.seek_to(0)?;
        Ok(buf)
    }

    pub(crate) fn seek_to(&mut self, pos: u64) -> std::io::Result<()> {
        self.inner.seek(SeekFrom::Start(pos))?;
        self.pos = pos;
        Ok(())
    }

    /// Exactly `n` bytes, or `None` if fewer remain (truncated file).
    pub(crate) fn take(&mut self, n: usize) -> std::io::Result<Option<Vec<u8>>> {
        if n as u64 > self.remaining() {
            return Ok(None);
        }
        let mut buf = vec![0; n];
        let got = read_full(&mut self.inner, &mut buf)?;
        self.pos += got as u64;
        Ok((got == n).then_some(buf))
    }

    pub(crate) fn skip(&mut self, n: u64) -> std::io::Result<bool> {
        if n > self.remaining() {
            return Ok(false);
        }
        let to = self.pos + n;
        self.seek_to(to)?;
        Ok(true)
    }
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
pub(crate) fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}
pub(crate) fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
pub(crate) fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
pub(crate) fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}
