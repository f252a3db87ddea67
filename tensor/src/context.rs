//! How ops run, chosen per thread and scoped like `no_grad`: the precision of f32 matrix products
//! (f32 or bf16 on either device, TF32 and cuBLAS's bf16 on a GPU), the attention path (the fused kernels, one fused GPU version named, or the composed
//! reference), and what the backward recomputes rather than keeps. The CLI and the trainer set it around the work they run; an op reads it when it runs
//! on the calling thread; nothing is process-wide, so tests on separate threads never see each
//! other's settings.

use kernels::attention::cuda::AttentionVersion;
use kernels::cuda::MatmulPrecision;
use std::cell::Cell;

/// Which attention path `Var::attention` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttentionPath {
    /// The fused kernels: on a GPU the best version for each shape and precision.
    #[default]
    Fused,
    /// The fused kernels, this GPU version for every call (to compare versions end to end).
    FusedVersion(AttentionVersion),
    /// Products, mask and softmax as separate recorded ops: the reference the fused path matches.
    Composed,
}

/// The settings ops read while they run (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecutionContext {
    /// How f32 matrix products run: on the CPU in f32, or under `Bf16`/`Bf16InCublas` with bf16
    /// operands and f32 sums (`kernels::gemm::gemm_bf16`); on a GPU as [`MatmulPrecision`] says.
    pub precision: MatmulPrecision,
    pub attention: AttentionPath,
    /// Whether a feed-forward block recomputes its hidden layer `GELU(u)` in the backward instead
    /// of keeping it from the forward (less activation memory, one more GELU pass).
    pub recompute_gelu: bool,
}

thread_local! {
    static CURRENT: Cell<ExecutionContext> = Cell::new(ExecutionContext::default());
}

impl ExecutionContext {
    /// The context of this thread (the default — f32 products, fused attention — unless a caller
    /// set another around this code).
    pub fn current() -> Self {
        CURRENT.with(Cell::get)
    }

    /// Runs `f` in this context, and puts the caller's back afterwards, also when `f` panics.
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        let _scope = self.enter();
        f()
    }

    /// Makes this the thread's context until the returned guard is dropped (then the one before
    /// is back): the scope of a `let _context = …enter();` binding, as [`ExecutionContext::run`]
    /// for a closure.
    #[must_use = "the context holds only while the guard lives"]
    pub fn enter(self) -> ContextScope {
        ContextScope { previous: CURRENT.with(|c| c.replace(self)), _this_thread: std::marker::PhantomData }
    }

    /// The same context with another precision.
    pub fn with_precision(self, precision: MatmulPrecision) -> Self {
        Self { precision, ..self }
    }

    /// The same context with another attention path.
    pub fn with_attention(self, attention: AttentionPath) -> Self {
        Self { attention, ..self }
    }

    /// The same context, recomputing GELU's output in the backward or not.
    pub fn with_recompute_gelu(self, recompute_gelu: bool) -> Self {
        Self { recompute_gelu, ..self }
    }
}

/// While it lives, its thread runs in the context [`ExecutionContext::enter`] set.
pub struct ContextScope {
    previous: ExecutionContext,
    /// Bound to the thread whose context it changed (not `Send`).
    _this_thread: std::marker::PhantomData<*const ()>,
}

impl Drop for ContextScope {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_holds_inside_its_scope_only_and_on_its_thread_only() {
        let bf16 = ExecutionContext::default().with_precision(MatmulPrecision::Bf16);
        let inner = bf16.with_attention(AttentionPath::Composed);
        bf16.run(|| {
            assert_eq!(ExecutionContext::current(), bf16);
            inner.run(|| assert_eq!(ExecutionContext::current(), inner));
            assert_eq!(ExecutionContext::current(), bf16, "the outer scope's context is back");
            let other_thread = std::thread::spawn(ExecutionContext::current).join().unwrap();
            assert_eq!(other_thread, ExecutionContext::default());
        });
        assert_eq!(ExecutionContext::current(), ExecutionContext::default());
        let caught = std::panic::catch_unwind(|| bf16.run(|| panic!("inside")));
        assert!(caught.is_err());
        assert_eq!(ExecutionContext::current(), ExecutionContext::default(), "restored after a panic");
        {
            let _scope = inner.enter();
            assert_eq!(ExecutionContext::current(), inner);
        }
        assert_eq!(ExecutionContext::current(), ExecutionContext::default(), "restored when the scope ends");
    }
}
