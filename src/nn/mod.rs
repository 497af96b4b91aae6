//! The network: parameters, activations, costs and the forward and
//! backward passes over a workspace.

pub mod cost;
pub mod fastmath;
pub mod network;
pub mod sgd;
pub mod workspace;
