//! A saved model as an ONNX graph (IR version 8, opset 17), which
//! onnxruntime (Python, C++, C#, the browser's onnxruntime-web), Netron and
//! other tools read.
//!
//! Input `pixels`: float32 `[N, 784]`, raw pixel values 0..255, N free.
//! Outputs `probabilities`: float32 `[N, 10]`, what the network's output
//! units give (ten σ units, or a softmax), and `digit`: int64 `[N]`, the
//! argmax of the output layer's pre-activations z (first on ties), as
//! `eval` and `predict` pick it: σ rounds large z to 1.0 alike.
//!
//! The graph computes what `gather` and `forward` do:
//! - dataset normalisation: x = p · scale + offset with the very f32
//!   constants `gather` uses, made from the model's stored mean and std;
//! - batch normalisation: the mean and population standard deviation of
//!   all N × 784 inputs together, worked out in float64 from the sums of
//!   the pixels and of their squares as `standardisation` does, then
//!   applied in f32; a batch whose pixels are all equal has std 0 and maps
//!   to zeros. Sums of whole pixel values are exact in float64 in any
//!   order, and so are count · Σp² and (Σp)² up to a few hundred images,
//!   so the scale and offset are `gather`'s bit for bit (for larger
//!   batches they may differ in the 16th digit).
//! - each layer a Gemm on the stored `[out, in]` weights (transB = 1), the
//!   hidden activation between layers, the output units on the last.
//!
//! The protobuf is written by hand: the graph uses a small subset of
//! onnx.proto, and the field numbers below are that file's.

use crate::data::batch::{fixed_scale_offset, Normalisation};
use crate::data::dataset::{CLASSES, PIXELS};
use crate::io::model::ModelInfo;
use crate::io::protobuf::Message;
use crate::nn::arch::{Activation, Output};
use crate::nn::params::Params;

pub const IR_VERSION: u64 = 8;
pub const OPSET: u64 = 17;
pub const INPUT: &str = "pixels";
pub const PROBABILITIES: &str = "probabilities";
pub const DIGIT: &str = "digit";
/// The symbolic batch dimension of the input and outputs.
pub const BATCH_DIM: &str = "N";

/// TensorProto.DataType values.
pub const FLOAT: u64 = 1;
pub const INT64: u64 = 7;
pub const DOUBLE: u64 = 11;

/// AttributeProto.AttributeType values.
const ATTRIBUTE_INT: u64 = 2;

/// A TensorProto holding `raw` (little-endian values) of type `data_type`.
fn tensor(name: &str, dims: &[usize], data_type: u64, raw: Vec<u8>) -> Message {
    let mut t = Message::default();
    for &d in dims {
        t.int(1, d as u64); // dims
    }
    t.int(2, data_type).string(8, name).bytes(9, &raw); // data_type, name, raw_data
    t
}

fn f32_tensor(name: &str, dims: &[usize], values: &[f32]) -> Message {
    let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor(name, dims, FLOAT, raw)
}

fn f64_scalar(name: &str, value: f64) -> Message {
    tensor(name, &[], DOUBLE, value.to_le_bytes().to_vec())
}

/// A ValueInfoProto of a graph input or output: a tensor of `elem_type`
/// whose first dimension is the batch.
fn value_info(name: &str, elem_type: u64, per_row: Option<usize>) -> Message {
    let mut shape = Message::default();
    let mut batch = Message::default();
    batch.string(2, BATCH_DIM); // dim_param
    shape.message(1, &batch); // dim
    if let Some(width) = per_row {
        let mut dim = Message::default();
        dim.int(1, width as u64); // dim_value
        shape.message(1, &dim);
    }
    let mut tensor_type = Message::default();
    tensor_type.int(1, elem_type).message(2, &shape); // elem_type, shape
    let mut type_proto = Message::default();
    type_proto.message(1, &tensor_type); // tensor_type
    let mut info = Message::default();
    info.string(1, name).message(2, &type_proto); // name, type
    info
}

/// The nodes and initializers of the graph as they are added.
#[derive(Default)]
struct Graph {
    nodes: Vec<Message>,
    initializers: Vec<Message>,
}

impl Graph {
    /// Adds the node `op` reading `inputs`, writing the value `output`,
    /// which also names the node; `attributes` are integer ones.
    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attributes: &[(&str, i64)]) {
        let mut node = Message::default();
        for input in inputs {
            node.string(1, input); // input
        }
        node.string(2, output).string(3, output).string(4, op); // output, name, op_type
        for (name, value) in attributes {
            let mut attribute = Message::default();
            // name, type, i; a negative int64 is its two's complement.
            attribute
                .string(1, name)
                .int(20, ATTRIBUTE_INT)
                .int(3, *value as u64);
            node.message(5, &attribute);
        }
        self.nodes.push(node);
    }

    /// Writes the nodes for x = pixels · scale + offset, the normalised
    /// input, and returns its name.
    fn normalise(&mut self, normalisation: Normalisation) -> &'static str {
        match normalisation {
            Normalisation::Fixed { mean, std } => {
                let (scale, offset) = fixed_scale_offset(mean, std);
                self.initializers.push(f32_tensor("scale", &[], &[scale]));
                self.initializers.push(f32_tensor("offset", &[], &[offset]));
            }
            Normalisation::PerBatch => {
                // `standardisation(sum, sum_sq, count)`, step by step in
                // float64, over the whole batch tensor.
                self.initializers.push(f64_scalar("batch.zero", 0.0));
                self.initializers.push(f64_scalar("batch.one", 1.0));
                let to_double = [("to", DOUBLE as i64)];
                let whole = [("keepdims", 0)];
                self.node("Cast", &[INPUT], "batch.p", &to_double);
                self.node("ReduceSum", &["batch.p"], "batch.sum", &whole);
                self.node("Mul", &["batch.p", "batch.p"], "batch.p2", &[]);
                self.node("ReduceSum", &["batch.p2"], "batch.sum_sq", &whole);
                self.node("Size", &[INPUT], "batch.count_int", &[]);
                self.node("Cast", &["batch.count_int"], "batch.count", &to_double);
                self.node("Div", &["batch.sum", "batch.count"], "batch.mean", &[]);
                // count² · variance = count · Σp² − (Σp)²
                self.node("Mul", &["batch.count", "batch.sum_sq"], "batch.n_sq", &[]);
                self.node("Mul", &["batch.sum", "batch.sum"], "batch.sum_2", &[]);
                self.node("Sub", &["batch.n_sq", "batch.sum_2"], "batch.n2_var", &[]);
                self.node("Sqrt", &["batch.n2_var"], "batch.n_std", &[]);
                self.node("Div", &["batch.n_std", "batch.count"], "batch.std", &[]);
                // A constant batch (std 0) is scaled by 1, not by infinity.
                self.node("Greater", &["batch.std", "batch.zero"], "batch.spread", &[]);
                self.node("Div", &["batch.one", "batch.std"], "batch.inverse_std", &[]);
                let choice = ["batch.spread", "batch.inverse_std", "batch.one"];
                self.node("Where", &choice, "batch.scale", &[]);
                self.node(
                    "Mul",
                    &["batch.mean", "batch.scale"],
                    "batch.mean_scaled",
                    &[],
                );
                self.node("Neg", &["batch.mean_scaled"], "batch.offset", &[]);
                let to_float = [("to", FLOAT as i64)];
                self.node("Cast", &["batch.scale"], "scale", &to_float);
                self.node("Cast", &["batch.offset"], "offset", &to_float);
            }
        }
        self.node("Mul", &[INPUT, "scale"], "scaled", &[]);
        self.node("Add", &["scaled", "offset"], "normalised", &[]);
        "normalised"
    }
}

/// The ONNX model computing what `eval` computes with `params` and `info`,
/// serialised.
pub fn to_onnx(params: &Params, info: &ModelInfo) -> Vec<u8> {
    let arch = info.arch();
    let mut graph = Graph::default();
    let mut x = graph.normalise(info.normalisation).to_string();
    let last = params.layers.len() - 1;
    for (l, layer) in params.layers.iter().enumerate() {
        let (w, b) = (format!("layers.{l}.weight"), format!("layers.{l}.bias"));
        graph.initializers.push(f32_tensor(
            &w,
            &[layer.outputs(), layer.inputs()],
            layer
                .w
                .as_standard_layout()
                .as_slice()
                .expect("standard layout"),
        ));
        graph.initializers.push(f32_tensor(
            &b,
            &[layer.outputs()],
            layer.b.as_slice().expect("a bias is contiguous"),
        ));
        let z = format!("layers.{l}.z");
        graph.node("Gemm", &[&x, &w, &b], &z, &[("transB", 1)]);
        x = if l < last {
            let a = format!("layers.{l}.a");
            let op = match arch.activation {
                Activation::Sigmoid => "Sigmoid",
                Activation::Relu => "Relu",
                Activation::Tanh => "Tanh",
            };
            graph.node(op, &[&z], &a, &[]);
            a
        } else {
            z
        };
    }
    let logits = x;
    match arch.output {
        Output::Sigmoid => graph.node("Sigmoid", &[&logits], PROBABILITIES, &[]),
        Output::Softmax => graph.node("Softmax", &[&logits], PROBABILITIES, &[("axis", 1)]),
    }
    graph.node(
        "ArgMax",
        &[&logits],
        DIGIT,
        &[("axis", 1), ("keepdims", 0), ("select_last_index", 0)],
    );

    let mut g = Message::default();
    for node in &graph.nodes {
        g.message(1, node); // node
    }
    g.string(2, "mnist-mlp"); // name
    for initializer in &graph.initializers {
        g.message(5, initializer); // initializer
    }
    g.string(10, &graph_doc(info)); // doc_string
    g.message(11, &value_info(INPUT, FLOAT, Some(PIXELS))); // input
    g.message(12, &value_info(PROBABILITIES, FLOAT, Some(CLASSES))); // output
    g.message(12, &value_info(DIGIT, INT64, None));

    let mut opset = Message::default();
    opset.string(1, "").int(2, OPSET); // domain (the default), version
    let mut model = Message::default();
    model
        .int(1, IR_VERSION) // ir_version
        .message(8, &opset) // opset_import
        .string(2, "mnist-mlp") // producer_name
        .string(3, env!("CARGO_PKG_VERSION")) // producer_version
        .message(7, &g); // graph
    for (key, value) in metadata(info) {
        let mut entry = Message::default();
        entry.string(1, &key).string(2, &value);
        model.message(14, &entry); // metadata_props
    }
    model.into_bytes()
}

/// What a reader of the graph needs to feed it, in a sentence.
fn graph_doc(info: &ModelInfo) -> String {
    let arch = info.arch();
    let normalisation = match info.normalisation {
        Normalisation::Fixed { mean, std } => {
            format!("standardised with the training set's mean {mean} and std {std}")
        }
        Normalisation::PerBatch => format!(
            "standardised over the whole input batch, as in training: feed batches of {} to get the trained behaviour",
            info.config.batch_size
        ),
    };
    format!(
        "{}. Input pixels: float32 [N, 784], raw values 0..255, {normalisation}. \
         Outputs: probabilities float32 [N, 10] ({} outputs), digit int64 [N].",
        arch.describe(),
        arch.output
    )
}

/// The model's settings as ONNX metadata_props, the keys the safetensors
/// model uses.
fn metadata(info: &ModelInfo) -> Vec<(String, String)> {
    let c = &info.config;
    let mut entries = vec![
        ("hidden", c.hidden.to_string()),
        ("activation", c.activation.to_string()),
        ("output", c.output.to_string()),
        ("batch_size", c.batch_size.to_string()),
        ("epochs_trained", info.epochs_trained.to_string()),
        ("test_acc", info.test_accuracy.to_string()),
    ];
    match info.normalisation {
        Normalisation::PerBatch => entries.push(("normalisation", "batch".into())),
        Normalisation::Fixed { mean, std } => entries.extend([
            ("normalisation", "dataset".into()),
            ("mean", mean.to_string()),
            ("std", std.to_string()),
        ]),
    }
    entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}
