//! The elements of a CPU storage: an owned vector, or a read-only window into a memory-mapped file,
//! so a checkpoint's tensors load without a copy. Reads see a slice either way; the first write to
//! a mapped buffer copies it into memory (copy-on-write).

use bytemuck::Pod;
use memmap2::Mmap;
use std::ops::Deref;
use std::sync::Arc;

pub enum Buffer<T> {
    Owned(Vec<T>),
    /// `len` elements starting `byte_offset` bytes into the map (checked in range and aligned).
    Mapped {
        map: Arc<Mmap>,
        byte_offset: usize,
        len: usize,
    },
}

impl<T: Pod> Buffer<T> {
    /// A window of `len` elements at `byte_offset` into `map`, or `None` if it does not fit or is
    /// not aligned for `T` (the caller then copies).
    pub fn mapped(map: Arc<Mmap>, byte_offset: usize, len: usize) -> Option<Self> {
        let bytes = len.checked_mul(std::mem::size_of::<T>())?;
        let end = byte_offset.checked_add(bytes)?;
        let window = map.get(byte_offset..end)?;
        bytemuck::try_cast_slice::<u8, T>(window).ok()?;
        Some(Buffer::Mapped { map, byte_offset, len })
    }

    pub fn is_mapped(&self) -> bool {
        matches!(self, Buffer::Mapped { .. })
    }

    /// The elements, mutable: a mapped buffer is copied into memory first.
    pub fn make_mut(&mut self) -> &mut Vec<T> {
        if let Buffer::Mapped { .. } = self {
            *self = Buffer::Owned(self.deref().to_vec());
        }
        match self {
            Buffer::Owned(v) => v,
            Buffer::Mapped { .. } => unreachable!("just replaced by an owned copy"),
        }
    }
}

impl<T: Pod> Deref for Buffer<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            Buffer::Owned(v) => v,
            Buffer::Mapped { map, byte_offset, len } => {
                bytemuck::cast_slice(&map[*byte_offset..*byte_offset + len * std::mem::size_of::<T>()])
            }
        }
    }
}

impl<T: Pod> From<Vec<T>> for Buffer<T> {
    fn from(v: Vec<T>) -> Self {
        Buffer::Owned(v)
    }
}

impl<T: Pod> Clone for Buffer<T> {
    fn clone(&self) -> Self {
        match self {
            Buffer::Owned(v) => Buffer::Owned(v.clone()),
            Buffer::Mapped { map, byte_offset, len } => {
                Buffer::Mapped { map: map.clone(), byte_offset: *byte_offset, len: *len }
            }
        }
    }
}

impl<T: Pod + PartialEq> PartialEq for Buffer<T> {
    fn eq(&self, other: &Self) -> bool {
        self.deref() == other.deref()
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_mapped() { "mapped" } else { "owned" };
        write!(f, "Buffer({kind}, {} elements)", self.len())
    }
}
