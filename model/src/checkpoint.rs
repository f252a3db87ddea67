//! `.safetensors` files: read through a memory map, write atomically (temp file, fsync, rename), so a
//! crash mid-write never leaves a half-written checkpoint under the real name.

use crate::nn::{Fresh, Init, RandomInit};
use crate::{ModelError, Result};
use safetensors::tensor::{Dtype as StDtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tensor::{bf16, f16, DType, Tensor};

/// Reads every tensor of a `.safetensors` file (f32, f64, bf16, f16, i64, u32), keeping its dtype.
/// The tensors read their elements straight from a memory map of the file — no copy — wherever
/// the data is aligned for its dtype (safetensors files written by HF are); others are copied.
/// A truncated or corrupt file is an error naming the file.
pub fn read_safetensors(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    let file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    // Safety: the map is read-only. Like every memory-mapped reader, we rely on the file not being
    // truncated by another process while mapped; our own writers never do that (they write a new
    // file and rename it over the old one, which stays intact for existing maps).
    let map = Arc::new(unsafe { memmap2::Mmap::map(&file) }.map_err(|e| ModelError::io(path, e))?);
    let st = SafeTensors::deserialize(&map)
        .map_err(|e| ModelError::format(path, format!("not a valid safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let shape = view.shape().to_vec();
        let bytes = view.data();
        let dtype = match view.dtype() {
            StDtype::F32 => DType::F32,
            StDtype::F64 => DType::F64,
            StDtype::BF16 => DType::BF16,
            StDtype::F16 => DType::F16,
            StDtype::I64 => DType::I64,
            StDtype::U32 => DType::U32,
            other => return Err(ModelError::mismatch(path, &name, format!("unsupported dtype {other:?}"))),
        };
        let offset = bytes.as_ptr() as usize - map.as_ptr() as usize;
        let tensor = match Tensor::from_mapped(map.clone(), offset, &shape, dtype) {
            Some(t) => t,
            None => copy_tensor(bytes, &shape, dtype).map_err(|e| ModelError::mismatch(path, &name, e.to_string()))?,
        };
        out.insert(name, tensor);
    }
    Ok(out)
}

/// A tensor from (possibly unaligned) little-endian bytes.
fn copy_tensor(bytes: &[u8], shape: &[usize], dtype: DType) -> tensor::Result<Tensor> {
    match dtype {
        DType::F32 => Tensor::from_vec(bytemuck::pod_collect_to_vec::<u8, f32>(bytes), shape),
        DType::F64 => Tensor::from_vec(bytemuck::pod_collect_to_vec::<u8, f64>(bytes), shape),
        DType::BF16 => Tensor::from_vec(bytemuck::pod_collect_to_vec::<u8, bf16>(bytes), shape),
        DType::F16 => Tensor::from_vec(bytemuck::pod_collect_to_vec::<u8, f16>(bytes), shape),
        DType::I64 => Tensor::from_vec(bytemuck::pod_collect_to_vec::<u8, i64>(bytes), shape),
        DType::U32 => Tensor::from_vec(bytemuck::pod_collect_to_vec::<u8, u32>(bytes), shape),
    }
}

/// One tensor's bytes, ready for the safetensors writer.
struct Bytes {
    dtype: StDtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Bytes {
    fn dtype(&self) -> StDtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn to_bytes(t: &Tensor) -> Result<Bytes> {
    let shape = t.shape().to_vec();
    let (dtype, data) = match t.dtype() {
        DType::F32 => (StDtype::F32, bytemuck::cast_slice(&t.to_vec::<f32>()?).to_vec()),
        DType::F64 => (StDtype::F64, bytemuck::cast_slice(&t.to_vec::<f64>()?).to_vec()),
        DType::BF16 => (StDtype::BF16, bytemuck::cast_slice(&t.to_vec::<bf16>()?).to_vec()),
        DType::F16 => (StDtype::F16, bytemuck::cast_slice(&t.to_vec::<f16>()?).to_vec()),
        DType::I64 => (StDtype::I64, bytemuck::cast_slice(&t.to_vec::<i64>()?).to_vec()),
        DType::U32 => (StDtype::U32, bytemuck::cast_slice(&t.to_vec::<u32>()?).to_vec()),
    };
    Ok(Bytes { dtype, shape, data })
}

/// Writes named tensors as a `.safetensors` file, atomically, with `metadata` in its header.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: Option<std::collections::HashMap<String, String>>,
) -> Result<()> {
    let bytes: Vec<(String, Bytes)> =
        tensors.iter().map(|(n, t)| Ok((n.clone(), to_bytes(t)?))).collect::<Result<_>>()?;
    let encoded = safetensors::serialize(bytes.iter().map(|(n, b)| (n.as_str(), b)), metadata)
        .map_err(|e| ModelError::format(path, format!("cannot encode safetensors: {e}")))?;
    write_atomically(path, &encoded)
}

/// Saves a model folder as HF transformers lays it out: `model.safetensors` with every parameter
/// by name, then `config.json`; `dir` is created if needed and each file is written atomically.
pub fn save_model_folder(dir: &Path, params: &autograd::Params, config_json: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let tensors: Vec<(String, Tensor)> = params.iter().map(|(n, v)| (n.to_string(), v.value())).collect();
    let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    write_safetensors(&dir.join(crate::gpt2::WEIGHTS_FILE), &tensors, Some(metadata))?;
    write_atomically(&dir.join(crate::gpt2::CONFIG_FILE), config_json.as_bytes())
}

/// Writes `data` to `path` through a temporary file in the same folder, fsynced, then renamed.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let tmp: PathBuf = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("")));
    let mut file = std::fs::File::create(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
    file.write_all(data).and_then(|_| file.sync_all()).map_err(|e| ModelError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ModelError::io(path, e))
}

/// Parameters taken from a checkpoint's tensors, by name, checked against the expected shapes and
/// converted to `dtype`. Names may carry a prefix the file lacks (HF's GPT2Model files have no
/// `transformer.`).
pub struct CheckpointInit {
    pub path: PathBuf,
    pub tensors: BTreeMap<String, Tensor>,
    pub optional_prefix: String,
    pub dtype: DType,
    used: HashSet<String>,
}

impl CheckpointInit {
    pub fn new(path: &Path, tensors: BTreeMap<String, Tensor>, optional_prefix: &str, dtype: DType) -> Self {
        Self {
            path: path.to_path_buf(),
            tensors,
            optional_prefix: optional_prefix.to_string(),
            dtype,
            used: HashSet::new(),
        }
    }

    /// Names in the file that no parameter took, other than those in `ignorable`.
    pub fn unused(&self, ignorable: impl Fn(&str) -> bool) -> Vec<String> {
        self.tensors.keys().filter(|n| !self.used.contains(*n) && !ignorable(n)).cloned().collect()
    }
}

impl Init for CheckpointInit {
    fn tensor(&mut self, name: &str, shape: &[usize], _fresh: Fresh) -> Result<Tensor> {
        let short = name.strip_prefix(&format!("{}.", self.optional_prefix)).unwrap_or(name);
        let key = [name, short]
            .into_iter()
            .find(|k| self.tensors.contains_key(*k))
            .ok_or_else(|| ModelError::mismatch(&self.path, name, "missing from the checkpoint"))?;
        let t = &self.tensors[key];
        if t.shape() != shape {
            return Err(ModelError::mismatch(
                &self.path,
                key,
                format!("has shape {:?}, the model expects {shape:?}", t.shape()),
            ));
        }
        if !t.dtype().is_float() {
            return Err(ModelError::mismatch(
                &self.path,
                key,
                format!("has dtype {:?}, expected a float dtype", t.dtype()),
            ));
        }
        self.used.insert(key.to_string());
        Ok(t.to_dtype(self.dtype))
    }
}

/// Parameters from a checkpoint where it has them (same shape required), drawn fresh otherwise:
/// a pre-trained encoder under a new head.
pub struct CheckpointOrFresh {
    pub checkpoint: CheckpointInit,
    pub random: RandomInit,
    /// The names drawn fresh, in order.
    pub fresh: Vec<String>,
}

impl CheckpointOrFresh {
    pub fn new(checkpoint: CheckpointInit, random: RandomInit) -> Self {
        Self { checkpoint, random, fresh: Vec::new() }
    }
}

impl Init for CheckpointOrFresh {
    fn tensor(&mut self, name: &str, shape: &[usize], fresh: Fresh) -> Result<Tensor> {
        let short = name.strip_prefix(&format!("{}.", self.checkpoint.optional_prefix)).unwrap_or(name);
        if self.checkpoint.tensors.contains_key(name) || self.checkpoint.tensors.contains_key(short) {
            return self.checkpoint.tensor(name, shape, fresh);
        }
        self.fresh.push(name.to_string());
        self.random.tensor(name, shape, fresh)
    }
}
