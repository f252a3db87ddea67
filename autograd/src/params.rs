//! A named, ordered set of parameters: what an optimizer steps and a checkpoint saves.

use crate::Var;
use tensor::{Device, Error, Result, Tensor};

#[derive(Clone, Default)]
pub struct Params {
    entries: Vec<(String, Var)>,
}

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a new parameter under a unique `name` and returns its `Var`.
    pub fn add(&mut self, name: impl Into<String>, value: Tensor) -> Result<Var> {
        let name = name.into();
        if self.get(&name).is_some() {
            return Err(Error::invalid("Params::add", format!("a parameter named {name:?} already exists")));
        }
        let var = Var::parameter(value, name.clone());
        self.entries.push((name, var.clone()));
        Ok(var)
    }

    pub fn get(&self, name: &str) -> Option<&Var> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// `(name, parameter)` in registration order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total number of scalar parameters.
    pub fn numel(&self) -> usize {
        self.entries.iter().map(|(_, v)| v.value().elem_count()).sum()
    }

    /// Moves every parameter to `device` (in place: the model's `Var`s now hold device tensors;
    /// gradients are cleared).
    pub fn to_device(&self, device: Device) -> Result<()> {
        for (_, v) in &self.entries {
            v.zero_grad();
            let moved = v.value().to_device(device)?;
            v.update_value(|value| *value = moved);
        }
        Ok(())
    }

    /// The device of the parameters (the CPU when there are none).
    pub fn device(&self) -> Device {
        self.entries.first().map_or(Device::Cpu, |(_, v)| v.value().device())
    }

    /// Clears every gradient before the next backward pass.
    pub fn zero_grad(&self) {
        self.entries.iter().for_each(|(_, v)| v.zero_grad());
    }
}
