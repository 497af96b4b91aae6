//! `export --onnx`: the bytes decoded with a protobuf reader of the test's
//! own, the graph's structure checked against onnx.proto's rules, and the
//! graph run by a small interpreter of the ops it uses and compared with
//! the crate's own forward pass; the command's errors; `eval
//! --probabilities-out`.

#![cfg(feature = "cli")] // runs the program, or uses its plumbing (app)

use crate::common;

use std::collections::HashMap;

use common::{
    assert_one_line_error, mnist_mlp, names_in, stderr, synthetic, synthetic_mnist, write_mnist_dir,
};
use mnist_mlp::internals::data::batch::{gather, Normalisation};
use mnist_mlp::internals::data::dataset::{Dataset, CLASSES, PIXELS};
use mnist_mlp::internals::eval::evaluate_with_outputs;
use mnist_mlp::internals::io::model::{load, save, ModelInfo};
use mnist_mlp::internals::io::onnx::to_onnx;
use mnist_mlp::internals::nn::arch::{Activation, Hidden, Init, Output};
use mnist_mlp::internals::nn::params::Params;
use mnist_mlp::internals::nn::workspace::Workspace;
use mnist_mlp::internals::train::config::Normalise;
use mnist_mlp::internals::train::TrainConfig;
use rand::rngs::StdRng;
use rand::SeedableRng;

// ---------------------------------------------------------------------------
// A protobuf reader: enough of the wire format for onnx.proto's messages.

#[derive(Debug, Clone)]
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = bytes[*at];
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return value;
        }
    }
    panic!("varint longer than 10 bytes");
}

/// The fields of one message in order; panics on wire types the exporter
/// has no reason to write (fixed32/64, groups).
fn fields(bytes: &[u8]) -> Vec<(u32, Wire<'_>)> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        let key = varint(bytes, &mut at);
        let (field, wire_type) = ((key >> 3) as u32, key & 7);
        assert!(field > 0, "field number 0");
        match wire_type {
            0 => out.push((field, Wire::Varint(varint(bytes, &mut at)))),
            2 => {
                let len = varint(bytes, &mut at) as usize;
                assert!(at + len <= bytes.len(), "length past the message's end");
                out.push((field, Wire::Bytes(&bytes[at..at + len])));
                at += len;
            }
            other => panic!("field {field}: unexpected wire type {other}"),
        }
    }
    out
}

fn ints(bytes: &[u8], field: u32) -> Vec<u64> {
    fields(bytes)
        .into_iter()
        .filter(|(f, _)| *f == field)
        .map(|(_, w)| match w {
            Wire::Varint(v) => v,
            other => panic!("field {field} is {other:?}, expected a varint"),
        })
        .collect()
}

fn messages(bytes: &[u8], field: u32) -> Vec<&[u8]> {
    fields(bytes)
        .into_iter()
        .filter(|(f, _)| *f == field)
        .map(|(_, w)| match w {
            Wire::Bytes(b) => b,
            other => panic!("field {field} is {other:?}, expected bytes"),
        })
        .collect()
}

fn strings(bytes: &[u8], field: u32) -> Vec<String> {
    messages(bytes, field)
        .into_iter()
        .map(|b| String::from_utf8(b.to_vec()).expect("UTF-8"))
        .collect()
}

/// An optional scalar field: present at most once.
fn one<T>(mut values: Vec<T>, what: &str) -> Option<T> {
    assert!(values.len() <= 1, "{what} appears {} times", values.len());
    values.pop()
}

// onnx.proto's TensorProto.DataType values.
const FLOAT: i32 = 1;
const BOOL: i32 = 9;
const INT64: i32 = 7;
const DOUBLE: i32 = 11;

/// A tensor as the interpreter holds it: values widened to f64 (a FLOAT
/// tensor's values are all f32 values, rounded after every op).
#[derive(Debug, Clone, PartialEq)]
struct Tensor {
    dtype: i32,
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Tensor {
    fn decode(bytes: &[u8]) -> (String, Tensor) {
        let dims: Vec<usize> = ints(bytes, 1).into_iter().map(|d| d as usize).collect();
        let dtype = one(ints(bytes, 2), "data_type").expect("data_type") as i32;
        let name = one(strings(bytes, 8), "name").expect("a named initializer");
        let raw = one(messages(bytes, 9), "raw_data").expect("raw_data");
        let data: Vec<f64> = match dtype {
            FLOAT => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                .collect(),
            DOUBLE => raw
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                .collect(),
            other => panic!("{name}: initializer of type {other}"),
        };
        assert_eq!(data.len(), dims.iter().product::<usize>(), "{name}: size");
        (
            name,
            Tensor {
                dtype,
                shape: dims,
                data,
            },
        )
    }

    fn f32s(&self) -> Vec<f32> {
        assert_eq!(self.dtype, FLOAT);
        self.data.iter().map(|&v| v as f32).collect()
    }
}

/// Rounds `v` to the precision of `dtype`. An f32 op computed in f64 and
/// rounded once is the correctly rounded f32 result for +, −, ×, ÷ and √.
fn round(dtype: i32, v: f64) -> f64 {
    match dtype {
        FLOAT => v as f32 as f64,
        _ => v,
    }
}

#[derive(Debug)]
struct Node {
    inputs: Vec<String>,
    outputs: Vec<String>,
    name: String,
    op: String,
    attributes: HashMap<String, i64>,
}

#[derive(Debug, PartialEq)]
enum Dim {
    Value(u64),
    Param(String),
}

#[derive(Debug)]
struct ValueInfo {
    name: String,
    elem_type: i32,
    dims: Vec<Dim>,
}

fn value_info(bytes: &[u8]) -> ValueInfo {
    let name = one(strings(bytes, 1), "name").expect("name");
    let type_proto = one(messages(bytes, 2), "type").expect("type");
    let tensor_type = one(messages(type_proto, 1), "tensor_type").expect("tensor_type");
    let elem_type = one(ints(tensor_type, 1), "elem_type").expect("elem_type") as i32;
    let shape = one(messages(tensor_type, 2), "shape").expect("shape");
    let dims = messages(shape, 1)
        .into_iter()
        .map(|dim| {
            match (
                one(ints(dim, 1), "dim_value"),
                one(strings(dim, 2), "dim_param"),
            ) {
                (Some(v), None) => Dim::Value(v),
                (None, Some(p)) => Dim::Param(p),
                other => panic!("{name}: dimension {other:?}"),
            }
        })
        .collect();
    ValueInfo {
        name,
        elem_type,
        dims,
    }
}

struct Model {
    ir_version: u64,
    opsets: Vec<(String, u64)>,
    producer: String,
    metadata: HashMap<String, String>,
    nodes: Vec<Node>,
    initializers: Vec<(String, Tensor)>,
    inputs: Vec<ValueInfo>,
    outputs: Vec<ValueInfo>,
}

fn decode(bytes: &[u8]) -> Model {
    // Every field the exporter writes is known here: anything else would be
    // a wrong field number.
    let known = |message: &[u8], allowed: &[u32], what: &str| {
        for (field, _) in fields(message) {
            assert!(allowed.contains(&field), "{what}: unexpected field {field}");
        }
    };
    known(bytes, &[1, 2, 3, 7, 8, 14], "ModelProto");
    let graph = one(messages(bytes, 7), "graph").expect("graph");
    known(graph, &[1, 2, 5, 10, 11, 12], "GraphProto");
    let nodes = messages(graph, 1)
        .into_iter()
        .map(|n| {
            known(n, &[1, 2, 3, 4, 5], "NodeProto");
            let attributes = messages(n, 5)
                .into_iter()
                .map(|a| {
                    known(a, &[1, 3, 20], "AttributeProto");
                    assert_eq!(ints(a, 20), [2], "an INT attribute");
                    let value = one(ints(a, 3), "i").expect("i") as i64;
                    (one(strings(a, 1), "name").expect("name"), value)
                })
                .collect();
            Node {
                inputs: strings(n, 1),
                outputs: strings(n, 2),
                name: one(strings(n, 3), "name").expect("a named node"),
                op: one(strings(n, 4), "op_type").expect("op_type"),
                attributes,
            }
        })
        .collect();
    let initializers = messages(graph, 5)
        .into_iter()
        .map(|t| {
            known(t, &[1, 2, 8, 9], "TensorProto");
            Tensor::decode(t)
        })
        .collect();
    Model {
        ir_version: one(ints(bytes, 1), "ir_version").expect("ir_version"),
        opsets: messages(bytes, 8)
            .into_iter()
            .map(|o| {
                (
                    one(strings(o, 1), "domain").unwrap_or_default(),
                    one(ints(o, 2), "version").expect("version"),
                )
            })
            .collect(),
        producer: one(strings(bytes, 2), "producer_name").expect("producer_name"),
        metadata: messages(bytes, 14)
            .into_iter()
            .map(|e| {
                (
                    one(strings(e, 1), "key").unwrap(),
                    one(strings(e, 2), "value").unwrap(),
                )
            })
            .collect(),
        nodes,
        initializers,
        inputs: messages(graph, 11).into_iter().map(value_info).collect(),
        outputs: messages(graph, 12).into_iter().map(value_info).collect(),
    }
}

// ---------------------------------------------------------------------------
// An interpreter of the ops the exporter emits, with ONNX's semantics.

/// Applies `f` elementwise, broadcasting a scalar operand (the only
/// broadcasting the graph uses).
fn elementwise(a: &Tensor, b: &Tensor, dtype: i32, f: impl Fn(f64, f64) -> f64) -> Tensor {
    let shape = if a.data.len() >= b.data.len() {
        a.shape.clone()
    } else {
        b.shape.clone()
    };
    let n = a.data.len().max(b.data.len());
    for t in [a, b] {
        assert!(
            t.data.len() == 1 || t.shape == shape,
            "broadcast of {:?} to {shape:?}",
            t.shape
        );
    }
    let at = |t: &Tensor, i: usize| t.data[if t.data.len() == 1 { 0 } else { i }];
    Tensor {
        dtype,
        shape,
        data: (0..n)
            .map(|i| round(dtype, f(at(a, i), at(b, i))))
            .collect(),
    }
}

fn unary(a: &Tensor, f: impl Fn(f64) -> f64) -> Tensor {
    Tensor {
        dtype: a.dtype,
        shape: a.shape.clone(),
        data: a.data.iter().map(|&v| round(a.dtype, f(v))).collect(),
    }
}

fn same_type(a: &Tensor, b: &Tensor, op: &str) -> i32 {
    assert_eq!(a.dtype, b.dtype, "{op}: operand types differ");
    a.dtype
}

/// Runs the graph on `pixels` (`rows × 784`) and returns every value it
/// computed, by name.
fn run(model: &Model, pixels: &[f32]) -> HashMap<String, Tensor> {
    let mut values: HashMap<String, Tensor> = model.initializers.iter().cloned().collect();
    values.insert(
        "pixels".into(),
        Tensor {
            dtype: FLOAT,
            shape: vec![pixels.len() / PIXELS, PIXELS],
            data: pixels.iter().map(|&p| p as f64).collect(),
        },
    );
    for node in &model.nodes {
        let input = |i: usize| {
            values.get(&node.inputs[i]).unwrap_or_else(|| {
                panic!("{}: input {} not yet computed", node.name, node.inputs[i])
            })
        };
        let attribute = |name: &str| node.attributes.get(name).copied();
        let op = node.op.as_str();
        let result = match op {
            "Cast" => {
                let to = attribute("to").expect("Cast has `to`") as i32;
                Tensor {
                    dtype: to,
                    shape: input(0).shape.clone(),
                    data: input(0).data.iter().map(|&v| round(to, v)).collect(),
                }
            }
            "ReduceSum" => {
                assert_eq!(node.inputs.len(), 1, "ReduceSum over all axes");
                assert_eq!(attribute("keepdims"), Some(0));
                let a = input(0);
                Tensor {
                    dtype: a.dtype,
                    shape: vec![],
                    data: vec![round(a.dtype, a.data.iter().sum())],
                }
            }
            "Size" => Tensor {
                dtype: INT64,
                shape: vec![],
                data: vec![input(0).data.len() as f64],
            },
            "Mul" | "Add" | "Sub" | "Div" => {
                let dtype = same_type(input(0), input(1), op);
                let f = match op {
                    "Mul" => |a: f64, b: f64| a * b,
                    "Add" => |a, b| a + b,
                    "Sub" => |a, b| a - b,
                    _ => |a, b| a / b,
                };
                elementwise(input(0), input(1), dtype, f)
            }
            "Greater" => {
                same_type(input(0), input(1), op);
                elementwise(input(0), input(1), BOOL, |a, b| f64::from(u8::from(a > b)))
            }
            "Where" => {
                let (c, a, b) = (input(0), input(1), input(2));
                assert_eq!(c.dtype, BOOL);
                let dtype = same_type(a, b, op);
                assert!(c.data.len() == 1 && a.data.len() == 1 && b.data.len() == 1);
                Tensor {
                    dtype,
                    shape: vec![],
                    data: vec![if c.data[0] != 0.0 {
                        a.data[0]
                    } else {
                        b.data[0]
                    }],
                }
            }
            "Sqrt" => unary(input(0), f64::sqrt),
            "Neg" => unary(input(0), |v| -v),
            "Sigmoid" => unary(input(0), |v| 1.0 / (1.0 + (-v).exp())),
            "Tanh" => unary(input(0), f64::tanh),
            "Relu" => unary(input(0), |v| v.max(0.0)),
            "Gemm" => {
                assert_eq!(attribute("transB"), Some(1));
                let (x, w, b) = (input(0), input(1), input(2));
                let (rows, inner, units) = (x.shape[0], x.shape[1], w.shape[0]);
                assert_eq!(w.shape, [units, inner]);
                assert_eq!(b.shape, [units]);
                let mut data = Vec::with_capacity(rows * units);
                for r in 0..rows {
                    for u in 0..units {
                        let dot: f64 = (0..inner)
                            .map(|k| x.data[r * inner + k] * w.data[u * inner + k])
                            .sum();
                        data.push(round(FLOAT, dot + b.data[u]));
                    }
                }
                Tensor {
                    dtype: FLOAT,
                    shape: vec![rows, units],
                    data,
                }
            }
            "Softmax" => {
                assert_eq!(attribute("axis"), Some(1));
                let z = input(0);
                let width = z.shape[1];
                let mut data = Vec::with_capacity(z.data.len());
                for row in z.data.chunks_exact(width) {
                    let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
                    data.extend(row.iter().map(|v| round(FLOAT, (v - max).exp() / sum)));
                }
                Tensor {
                    dtype: FLOAT,
                    shape: z.shape.clone(),
                    data,
                }
            }
            "ArgMax" => {
                assert_eq!(attribute("axis"), Some(1));
                assert_eq!(attribute("keepdims"), Some(0));
                assert_eq!(attribute("select_last_index").unwrap_or(0), 0);
                let z = input(0);
                let width = z.shape[1];
                let data = z
                    .data
                    .chunks_exact(width)
                    .map(|row| {
                        // The first of equal maxima.
                        (0..width).fold(0, |best, i| if row[i] > row[best] { i } else { best })
                            as f64
                    })
                    .collect();
                Tensor {
                    dtype: INT64,
                    shape: vec![z.shape[0]],
                    data,
                }
            }
            other => panic!(
                "{}: op {other} is not one the exporter should emit",
                node.name
            ),
        };
        assert_eq!(node.outputs.len(), 1, "{}: one output", node.name);
        assert!(
            values.insert(node.outputs[0].clone(), result).is_none(),
            "{}: value {} written twice",
            node.name,
            node.outputs[0]
        );
    }
    values
}

// ---------------------------------------------------------------------------
// Fixtures.

fn info(
    hidden: &[usize],
    activation: Activation,
    output: Output,
    normalisation: Normalisation,
    batch_size: usize,
) -> ModelInfo {
    let mut config = TrainConfig {
        hidden: Hidden(hidden.to_vec()),
        activation,
        output,
        batch_size,
        ..TrainConfig::default()
    };
    config.normalise = match normalisation {
        Normalisation::PerBatch => Normalise::Batch,
        Normalisation::Fixed { .. } => Normalise::Dataset,
    };
    ModelInfo {
        config,
        normalisation,
        epochs_trained: 3,
        test_accuracy: 0.5,
    }
}

fn params(hidden: &[usize], init: Init, seed: u64) -> Params {
    Params::new(
        &Hidden(hidden.to_vec()).sizes(),
        init,
        &mut StdRng::seed_from_u64(seed),
    )
}

const DATASET: Normalisation = Normalisation::Fixed {
    mean: 33.318_42,
    std: 78.567_49,
};

/// Every architecture kind: depths 1 to 3, each hidden activation, both
/// output units, both normalisations.
fn cases() -> Vec<(Params, ModelInfo)> {
    vec![
        (
            params(&[30], Init::Random, 1),
            info(
                &[30],
                Activation::Sigmoid,
                Output::Sigmoid,
                Normalisation::PerBatch,
                20,
            ),
        ),
        (
            params(&[64, 32], Init::Kaiming, 2),
            info(&[64, 32], Activation::Relu, Output::Softmax, DATASET, 64),
        ),
        (
            params(&[40, 20, 16], Init::Xavier, 3),
            info(
                &[40, 20, 16],
                Activation::Tanh,
                Output::Sigmoid,
                DATASET,
                10,
            ),
        ),
        (
            params(&[25], Init::Lecun, 4),
            info(
                &[25],
                Activation::Relu,
                Output::Softmax,
                Normalisation::PerBatch,
                16,
            ),
        ),
    ]
}

/// The test images, with the first batch of 20 all blank: a batch with
/// std 0, which standardisation maps to zeros rather than NaN.
fn test_set() -> Dataset {
    let set = synthetic(100, 7);
    let mut images = set.images().to_vec();
    images[..20 * PIXELS].fill(0);
    Dataset::new(images, set.labels().to_vec()).unwrap()
}

fn pixels(set: &Dataset, rows: std::ops::Range<usize>) -> Vec<f32> {
    rows.flat_map(|i| set.image(i).iter().map(|&p| p as f32))
        .collect()
}

// ---------------------------------------------------------------------------
// The graph.

#[test]
fn the_model_has_the_promised_opset_inputs_outputs_and_weights() {
    for (params, info) in cases() {
        let model = decode(&to_onnx(&params, &info));
        let what = info.arch().describe();
        assert_eq!(model.ir_version, 8, "{what}");
        assert_eq!(model.opsets, [(String::new(), 17)], "{what}");
        assert_eq!(model.producer, "mnist-mlp");

        assert_eq!(model.inputs.len(), 1);
        let input = &model.inputs[0];
        assert_eq!((input.name.as_str(), input.elem_type), ("pixels", FLOAT));
        assert_eq!(input.dims, [Dim::Param("N".into()), Dim::Value(784)]);
        let outputs: Vec<_> = model
            .outputs
            .iter()
            .map(|o| (o.name.as_str(), o.elem_type, &o.dims))
            .collect();
        assert_eq!(
            outputs,
            [
                (
                    "probabilities",
                    FLOAT,
                    &vec![Dim::Param("N".into()), Dim::Value(10)]
                ),
                ("digit", INT64, &vec![Dim::Param("N".into())]),
            ],
            "{what}"
        );

        // Each layer's weights and bias, bit for bit, as [out, in] and [out].
        let initializers: HashMap<_, _> = model.initializers.iter().cloned().collect();
        assert_eq!(initializers.len(), model.initializers.len(), "names repeat");
        for (l, layer) in params.layers.iter().enumerate() {
            let w = &initializers[&format!("layers.{l}.weight")];
            assert_eq!(w.shape, [layer.outputs(), layer.inputs()]);
            assert_eq!(w.f32s(), layer.w.iter().copied().collect::<Vec<_>>());
            let b = &initializers[&format!("layers.{l}.bias")];
            assert_eq!(b.shape, [layer.outputs()]);
            assert_eq!(b.f32s(), layer.b.to_vec());
        }

        // Nodes in topological order, each value written once, every name
        // distinct; the graph's outputs are computed.
        let mut defined: Vec<&str> = vec!["pixels"];
        defined.extend(initializers.keys().map(String::as_str));
        let mut names = std::collections::HashSet::new();
        for node in &model.nodes {
            assert!(names.insert(&node.name), "node name {} repeats", node.name);
            for input in &node.inputs {
                assert!(
                    defined.contains(&input.as_str()),
                    "{}: reads {input} before it is made",
                    node.name
                );
            }
            for output in &node.outputs {
                assert!(
                    !defined.contains(&output.as_str()),
                    "{output} written twice"
                );
                defined.push(output);
            }
        }
        assert!(defined.contains(&"probabilities") && defined.contains(&"digit"));

        let meta = &model.metadata;
        assert_eq!(meta["hidden"], info.config.hidden.to_string());
        assert_eq!(meta["activation"], info.config.activation.to_string());
        assert_eq!(meta["output"], info.config.output.to_string());
        assert_eq!(meta["batch_size"], info.config.batch_size.to_string());
        match info.normalisation {
            Normalisation::PerBatch => assert_eq!(meta["normalisation"], "batch"),
            Normalisation::Fixed { mean, std } => {
                assert_eq!(meta["normalisation"], "dataset");
                assert_eq!(meta["mean"].parse::<f32>().unwrap(), mean);
                assert_eq!(meta["std"].parse::<f32>().unwrap(), std);
            }
        }
    }
}

#[test]
fn the_graph_computes_what_eval_computes() {
    let set = test_set();
    for (params, info) in cases() {
        let what = info.arch().describe();
        let (report, expected) = evaluate_with_outputs(&params, &info, &set);
        let model = decode(&to_onnx(&params, &info));
        // Fed as eval feeds the network: in file order, in batches of the
        // trained size (the last one short).
        let batch = info.config.batch_size;
        let mut correct = 0;
        let mut worst = 0f32;
        for start in (0..set.len()).step_by(batch) {
            let rows = start..(start + batch).min(set.len());
            let values = run(&model, &pixels(&set, rows.clone()));

            // The normalised inputs are gather's, bit for bit.
            let mut ws = Workspace::new(batch, &params.sizes(), false);
            gather(&mut ws, &set, rows.clone(), info.normalisation);
            let x = values["normalised"].f32s();
            let from_gather = &ws.x.as_slice().unwrap()[..rows.len() * PIXELS];
            assert!(
                x.iter()
                    .zip(from_gather)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{what}: rows {rows:?} normalised differently from gather"
            );

            let probabilities = values["probabilities"].f32s();
            assert_eq!(values["probabilities"].shape, [rows.len(), CLASSES]);
            for (got, want) in probabilities.iter().zip(&expected[rows.start * CLASSES..]) {
                assert!(got.is_finite(), "{what}: {got}");
                worst = worst.max((got - want).abs());
            }
            let digits = &values["digit"];
            assert_eq!(digits.shape, [rows.len()]);
            correct += rows
                .zip(&digits.data)
                .filter(|(i, &d)| d as u8 == set.label(*i))
                .count();
        }
        assert!(worst < 1e-5, "{what}: probabilities differ by {worst}");
        assert_eq!(
            correct as f64 / set.len() as f64,
            report.accuracy,
            "{what}: the digits score differently"
        );
    }
}

#[test]
fn dataset_normalisation_does_not_depend_on_the_batch() {
    let (params, info) = cases().swap_remove(1);
    assert!(matches!(info.normalisation, Normalisation::Fixed { .. }));
    let set = test_set();
    let model = decode(&to_onnx(&params, &info));
    let whole = run(&model, &pixels(&set, 0..100))["probabilities"].f32s();
    let one = run(&model, &pixels(&set, 37..38))["probabilities"].f32s();
    assert_eq!(one, whole[37 * CLASSES..38 * CLASSES]);
}

// ---------------------------------------------------------------------------
// The command.

#[test]
fn export_writes_the_model_and_says_how_to_feed_it() {
    let dir = tempfile::tempdir().unwrap();
    let (params, info) = cases().swap_remove(0);
    let model_path = dir.path().join("m.safetensors");
    save(&model_path, &params, &info).unwrap();
    let onnx = dir.path().join("m.onnx");
    let out = mnist_mlp(&[
        "export",
        model_path.to_str().unwrap(),
        "--onnx",
        onnx.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("m.onnx") && stdout.contains("batches of 20"),
        "{stdout}"
    );
    let bytes = std::fs::read(&onnx).unwrap();
    assert_eq!(bytes, to_onnx(&params, &info));
    assert_eq!(names_in(dir.path()), ["m.onnx", "m.safetensors"]);
}

#[test]
fn export_refuses_a_file_that_is_not_a_model_and_a_missing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_model = dir.path().join("notes.safetensors");
    std::fs::write(&not_a_model, b"not a model").unwrap();
    let onnx = dir.path().join("out.onnx");
    let out = mnist_mlp(&[
        "export",
        not_a_model.to_str().unwrap(),
        "--onnx",
        onnx.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "notes.safetensors");
    assert_eq!(names_in(dir.path()), ["notes.safetensors"]);

    let out = mnist_mlp(&[
        "export",
        dir.path().join("absent.safetensors").to_str().unwrap(),
        "--onnx",
        onnx.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "absent.safetensors");
    assert_eq!(names_in(dir.path()), ["notes.safetensors"]);

    let (params, info) = cases().swap_remove(1);
    let model_path = dir.path().join("m.safetensors");
    save(&model_path, &params, &info).unwrap();
    let out = mnist_mlp(&[
        "export",
        model_path.to_str().unwrap(),
        "--onnx",
        dir.path().join("missing/out.onnx").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "does not exist");
    assert_eq!(names_in(dir.path()), ["m.safetensors", "notes.safetensors"]);

    // The model's own path, by another name, is refused and the model kept.
    let before = std::fs::read(&model_path).unwrap();
    let same = dir.path().join(".").join("m.safetensors");
    let out = mnist_mlp(&[
        "export",
        model_path.to_str().unwrap(),
        "--onnx",
        same.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "the model itself");
    assert_eq!(std::fs::read(&model_path).unwrap(), before);
    assert_eq!(names_in(dir.path()), ["m.safetensors", "notes.safetensors"]);

    let out = mnist_mlp(&["export", model_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "--onnx is required");
}

/// A checkpoint exports the weights it holds, and `eval
/// --probabilities-out` writes what `eval` computes, as `.npy`.
#[test]
fn a_trained_checkpoint_exports_and_eval_writes_its_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_dir(dir.path(), &synthetic_mnist(200, 60), true);
    let d = dir.path().to_str().unwrap();
    let checkpoint = dir.path().join("ck.safetensors");
    let out = mnist_mlp(&[
        "train",
        "--data-dir",
        d,
        "--epochs",
        "2",
        "--hidden",
        "12-8",
        "--activation",
        "tanh",
        "--output",
        "softmax",
        "--batch-size",
        "15",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let onnx = dir.path().join("ck.onnx");
    let out = mnist_mlp(&[
        "export",
        checkpoint.to_str().unwrap(),
        "--onnx",
        onnx.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let probabilities = dir.path().join("p.npy");
    let out = mnist_mlp(&[
        "eval",
        "--model",
        checkpoint.to_str().unwrap(),
        "--data-dir",
        d,
        "--json",
        "--probabilities-out",
        probabilities.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // The .npy: magic, version 1.0, a header NumPy parses, data on a
    // 64-byte boundary, then the values eval computed.
    let bytes = std::fs::read(&probabilities).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert_eq!(
        header.trim_end(),
        "{'descr': '<f4', 'fortran_order': False, 'shape': (60, 10), }"
    );
    assert!(header.ends_with('\n') && (10 + header_len).is_multiple_of(64));
    let from_npy: Vec<f32> = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let (params, info) = load(&checkpoint).unwrap();
    let test = synthetic_mnist(200, 60).test;
    let (expected_report, expected) = evaluate_with_outputs(&params, &info, &test);
    assert_eq!(from_npy, expected);
    assert_eq!(
        report["accuracy"].as_f64().unwrap(),
        expected_report.accuracy
    );

    // The exported checkpoint gives the same outputs, batch by batch.
    let model = decode(&std::fs::read(&onnx).unwrap());
    let mut worst = 0f32;
    for start in (0..test.len()).step_by(15) {
        let got = run(&model, &pixels(&test, start..start + 15))["probabilities"].f32s();
        for (g, w) in got.iter().zip(&expected[start * CLASSES..]) {
            worst = worst.max((g - w).abs());
        }
    }
    assert!(worst < 1e-5, "probabilities differ by {worst}");

    let out = mnist_mlp(&[
        "eval",
        "--model",
        checkpoint.to_str().unwrap(),
        "--data-dir",
        d,
        "--probabilities-out",
        dir.path().join("missing/p.npy").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "does not exist");
}
