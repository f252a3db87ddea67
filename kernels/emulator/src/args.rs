//! A kernel's arguments as the emulator passes them.

use std::any::Any;
use std::ffi::c_void;

/// A kernel's arguments, in the order of its signature: scalars by value, buffers as the slices
/// the kernel reads or writes (borrowed for as long as the arguments live).
#[derive(Default)]
pub struct Args<'a> {
    values: Vec<Box<dyn Any>>,
    _buffers: std::marker::PhantomData<&'a mut ()>,
}

impl<'a> Args<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A scalar (or plain `#[repr(C)]` struct) passed by value.
    pub fn value<T: Copy + 'static>(&mut self, v: T) -> &mut Self {
        self.values.push(Box::new(v));
        self
    }

    /// A buffer the kernel reads.
    pub fn slice<T: 'static>(&mut self, s: &'a [T]) -> &mut Self {
        self.value(s.as_ptr())
    }

    /// A buffer the kernel writes.
    pub fn slice_mut<T: 'static>(&mut self, s: &'a mut [T]) -> &mut Self {
        self.value(s.as_mut_ptr())
    }

    /// A null pointer (an optional buffer left out).
    pub fn null(&mut self) -> &mut Self {
        self.value(std::ptr::null::<c_void>())
    }

    /// The address of each value, as CUDA's launch takes them.
    pub(crate) fn pointers(&mut self) -> Vec<*mut c_void> {
        self.values.iter_mut().map(|b| (&mut **b as *mut dyn Any).cast::<c_void>()).collect()
    }
}
