//! A restricted pickle machine for torch state dicts: it builds plain values and never calls
//! or imports anything.
//!
//! Supported: the binary opcodes of protocols 2–5 that `torch.save` emits (and a few
//! neighbours). Globals are an allow-list: `collections.OrderedDict`,
//! `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter` and the
//! `torch.*Storage` type tags; any other global (`posix.system`, `builtins.eval`, ...) is
//! refused as soon as it is named. Persistent ids must be torch storage references
//! (`('storage', torch.FloatStorage, key, location, numel)`, with a sixth `None` in the
//! legacy format). The legacy format's header pickles also need booleans, a 10-byte integer
//! (the magic number) and Python 2 byte strings, which are read too.
//!
//! Robustness: every read is bounds-checked; containers are reference-counted so memo
//! references cost O(1) (run time and memory stay linear in the input); dropping deeply
//! nested values is iterative, so no input can overflow the stack.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Why a pickle was not accepted.
#[derive(Debug)]
pub(crate) enum PickleError {
    /// A global outside the allow-list, or a call we do not model.
    Refused(String),
    /// Malformed or unsupported bytes.
    Bad(String),
}

/// Element type of a torch storage (`torch.FloatStorage` -> `F32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StorageKind {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl StorageKind {
    fn from_class_name(name: &str) -> Option<StorageKind> {
        Some(match name {
            "DoubleStorage" => StorageKind::F64,
            "FloatStorage" => StorageKind::F32,
            "HalfStorage" => StorageKind::F16,
            "BFloat16Storage" => StorageKind::BF16,
            "LongStorage" => StorageKind::I64,
            "IntStorage" => StorageKind::I32,
            "ShortStorage" => StorageKind::I16,
            "CharStorage" => StorageKind::I8,
            "ByteStorage" => StorageKind::U8,
            "BoolStorage" => StorageKind::Bool,
            _ => return None,
        })
    }

    pub(crate) fn size_in_bytes(self) -> usize {
        match self {
            StorageKind::F64 | StorageKind::I64 => 8,
            StorageKind::F32 | StorageKind::I32 => 4,
            StorageKind::F16 | StorageKind::BF16 | StorageKind::I16 => 2,
            StorageKind::I8 | StorageKind::U8 | StorageKind::Bool => 1,
        }
    }

    /// torch's dtype name, for messages.
    pub(crate) fn torch_name(self) -> &'static str {
        match self {
            StorageKind::F64 => "float64",
            StorageKind::F32 => "float32",
            StorageKind::F16 => "float16",
            StorageKind::BF16 => "bfloat16",
            StorageKind::I64 => "int64",
            StorageKind::I32 => "int32",
            StorageKind::I16 => "int16",
            StorageKind::I8 => "int8",
            StorageKind::U8 => "uint8",
            StorageKind::Bool => "bool",
        }
    }
}

/// The globals a torch state dict may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    StorageType(StorageKind),
}

impl Global {
    fn resolve(module: &str, name: &str) -> Result<Global, PickleError> {
        match (module, name) {
            ("collections", "OrderedDict") => Ok(Global::OrderedDict),
            ("torch._utils", "_rebuild_tensor_v2") => Ok(Global::RebuildTensorV2),
            ("torch._utils", "_rebuild_parameter") => Ok(Global::RebuildParameter),
            ("torch", class) => StorageKind::from_class_name(class)
                .map(Global::StorageType)
                .ok_or_else(|| refused_global(module, name)),
            _ => Err(refused_global(module, name)),
        }
    }
}

fn refused_global(module: &str, name: &str) -> PickleError {
    PickleError::Refused(format!(
        "pickle global `{module}.{name}` is not allowed (a weights file may only name tensors, \
         storages and OrderedDict; this file may run code when loaded with torch.load)"
    ))
}

/// A storage reference from a persistent id: bytes live in the zip entry `data/<key>` (in
/// the legacy format: after the pickles, in the order of the key list).
#[derive(Debug)]
pub(crate) struct StorageRef {
    pub key: String,
    pub kind: StorageKind,
    /// Elements in the storage.
    pub numel: usize,
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage.
#[derive(Debug)]
pub(crate) struct TensorRef {
    pub storage: Rc<StorageRef>,
    /// In elements.
    pub offset: usize,
    pub size: Vec<usize>,
    /// In elements.
    pub stride: Vec<usize>,
}

/// A value on the pickle stack.
#[derive(Clone)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer too large for i64, as little-endian two's complement bytes (the legacy
    /// format's magic number).
    BigInt(Rc<[u8]>),
    /// Floats (e.g. in optimizer state) are parsed but their values never needed.
    Float,
    Str(Rc<str>),
    Tuple(Rc<Vec<Value>>),
    List(Rc<RefCell<Vec<Value>>>),
    /// Insertion-ordered (key, value) pairs: an OrderedDict or dict.
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Global(Global),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
}

impl Value {
    /// Kind name for messages (never prints contents, which may be huge or cyclic).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float => "float",
            Value::Str(_) => "str",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
        }
    }

    /// Move out the children of a container we hold the only reference to.
    fn take_children(&mut self, out: &mut Vec<Value>) {
        match self {
            Value::Tuple(rc) => {
                if let Some(items) = Rc::get_mut(rc) {
                    out.append(items);
                }
            }
            Value::List(rc) => {
                if let Some(items) = Rc::get_mut(rc) {
                    out.append(items.get_mut());
                }
            }
            Value::Dict(rc) => {
                if let Some(items) = Rc::get_mut(rc) {
                    for (k, v) in items.get_mut().drain(..) {
                        out.push(k);
                        out.push(v);
                    }
                }
            }
            _ => {}
        }
    }
}

impl Drop for Value {
    /// Iterative drop: a million-deep nested list must not overflow the stack.
    fn drop(&mut self) {
        let mut pending = Vec::new();
        self.take_children(&mut pending);
        while let Some(mut v) = pending.pop() {
            v.take_children(&mut pending);
            // `v` now has no children of its own to recurse into.
        }
    }
}

/// Run `data` and return the value STOP leaves on the stack.
pub(crate) fn run(data: &[u8]) -> Result<Value, PickleError> {
    run_prefix(data).map(|p| p.value)
}

/// What one pickle of a stream gave.
pub(crate) struct Pickled {
    /// The value STOP left on the stack.
    pub value: Value,
    /// Bytes the pickle took (more may follow it).
    pub len: usize,
    /// Every storage its persistent ids named, in order.
    pub storages: Vec<Rc<StorageRef>>,
}

/// Run the pickle at the start of `data`, which may be followed by other bytes.
pub(crate) fn run_prefix(data: &[u8]) -> Result<Pickled, PickleError> {
    let mut machine = Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        storages: Vec::new(),
    };
    let value = machine.run()?;
    Ok(Pickled {
        value,
        len: machine.pos,
        storages: machine.storages,
    })
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    /// Stack lengths at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    storages: Vec<Rc<StorageRef>>,
}

impl Machine<'_> {
    fn bad(&self, what: impl std::fmt::Display) -> PickleError {
        PickleError::Bad(format!("pickle byte {}: {what}", self.pos))
    }

    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            return Err(self.bad(format!("truncated: {n} more bytes expected")));
        };
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn str_of_len(&mut self, len: u64) -> Result<Value, PickleError> {
        let len = usize::try_from(len).map_err(|_| self.bad("string length overflows"))?;
        let bytes = self.take(len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Value::Str(Rc::from(s))),
            Err(_) => Err(self.bad("string is not UTF-8")),
        }
    }

    /// A `\n`-terminated line (GLOBAL's operands).
    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return Err(self.bad("truncated: newline expected"));
        };
        let line = std::str::from_utf8(&rest[..n])
            .map_err(|_| self.bad("GLOBAL name is not UTF-8"))?
            .to_string();
        self.pos += n + 1;
        Ok(line)
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.bad("stack underflow"));
        }
        self.stack.pop().ok_or_else(|| self.bad("stack underflow"))
    }

    fn top(&mut self) -> Result<&mut Value, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.bad("stack underflow"));
        }
        let pos = self.pos;
        self.stack
            .last_mut()
            .ok_or_else(|| PickleError::Bad(format!("pickle byte {pos}: stack underflow")))
    }

    /// Items pushed since the last MARK, removing the mark.
    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let Some(mark) = self.marks.pop() else {
            return Err(self.bad("no MARK on the stack"));
        };
        Ok(self.stack.split_off(mark))
    }

    fn pop_n(&mut self, n: usize) -> Result<Vec<Value>, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() < floor + n {
            return Err(self.bad("stack underflow"));
        }
        Ok(self.stack.split_off(self.stack.len() - n))
    }

    fn memo_get(&self, key: u32) -> Result<Value, PickleError> {
        self.memo
            .get(&key)
            .cloned()
            .ok_or_else(|| self.bad(format!("memo key {key} not set")))
    }

    fn memo_put(&mut self, key: u32) -> Result<(), PickleError> {
        let v = self.top()?.clone();
        self.memo.insert(key, v);
        Ok(())
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        match self.top()? {
            Value::List(list) => {
                list.borrow_mut().extend(items);
                Ok(())
            }
            other => {
                let kind = other.kind();
                Err(self.bad(format!("APPEND to a {kind}")))
            }
        }
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.bad("SETITEMS with an odd number of items"));
        }
        match self.top()? {
            Value::Dict(dict) => {
                let mut dict = dict.borrow_mut();
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    dict.push((k, v));
                }
                Ok(())
            }
            other => {
                let kind = other.kind();
                Err(self.bad(format!("SETITEM on a {kind}")))
            }
        }
    }

    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            let op = self.byte()?;
            match op {
                0x80 => {
                    let proto = self.byte()?;
                    if !(2..=5).contains(&proto) {
                        return Err(self.bad(format!("pickle protocol {proto} not supported")));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only
                }
                b'.' => {
                    let v = self.pop()?;
                    return Ok(v);
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.stack.push(v);
                }
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.stack.push(Value::Int(v.into()));
                }
                b'K' => {
                    let v = self.byte()?;
                    self.stack.push(Value::Int(v.into()));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(Value::Int(v.into()));
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes.
                    let n = usize::from(self.byte()?);
                    let bytes = self.take(n)?;
                    if n > 8 {
                        let big = Value::BigInt(Rc::from(bytes));
                        self.stack.push(big);
                        continue;
                    }
                    let mut buf = if bytes.last().is_some_and(|&b| b & 0x80 != 0) {
                        [0xff; 8]
                    } else {
                        [0; 8]
                    };
                    buf[..n].copy_from_slice(bytes);
                    self.stack.push(Value::Int(i64::from_le_bytes(buf)));
                }
                b'G' => {
                    self.take(8)?; // BINFLOAT: big-endian f64
                    self.stack.push(Value::Float);
                }
                b'X' => {
                    let len = self.u32()?;
                    let v = self.str_of_len(len.into())?;
                    self.stack.push(v);
                }
                0x8c | b'U' => {
                    // SHORT_BINUNICODE, or SHORT_BINSTRING (a Python 2 `str`, ASCII keys).
                    let len = self.byte()?;
                    let v = self.str_of_len(len.into())?;
                    self.stack.push(v);
                }
                b'T' => {
                    // BINSTRING: a Python 2 `str` with a 4-byte length.
                    let len = self.u32()?;
                    let v = self.str_of_len(len.into())?;
                    self.stack.push(v);
                }
                0x8d => {
                    let len = self.u64()?;
                    let v = self.str_of_len(len)?;
                    self.stack.push(v);
                }
                b'}' => self.stack.push(Value::Dict(Rc::default())),
                b']' => self.stack.push(Value::List(Rc::default())),
                b')' => self.stack.push(Value::Tuple(Rc::default())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(Rc::new(items)));
                }
                0x85..=0x87 => {
                    let items = self.pop_n(usize::from(op - 0x84))?;
                    self.stack.push(Value::Tuple(Rc::new(items)));
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(Rc::new(RefCell::new(items))));
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Dict(Rc::default()));
                    self.set_items(items)?;
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b's' => {
                    let items = self.pop_n(2)?;
                    self.set_items(items)?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'q' => {
                    let key = self.byte()?;
                    self.memo_put(key.into())?;
                }
                b'r' => {
                    let key = self.u32()?;
                    self.memo_put(key)?;
                }
                0x94 => {
                    let key =
                        u32::try_from(self.memo.len()).map_err(|_| self.bad("memo too large"))?;
                    self.memo_put(key)?;
                }
                b'h' => {
                    let key = self.byte()?;
                    let v = self.memo_get(key.into())?;
                    self.stack.push(v);
                }
                b'j' => {
                    let key = self.u32()?;
                    let v = self.memo_get(key)?;
                    self.stack.push(v);
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack
                        .push(Value::Global(Global::resolve(&module, &name)?));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) = (&module, &name) else {
                        return Err(self.bad("STACK_GLOBAL operands are not strings"));
                    };
                    self.stack
                        .push(Value::Global(Global::resolve(module, name)?));
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.reduce(callable, args)?;
                    self.stack.push(v);
                }
                b'b' => {
                    // BUILD sets attributes (an OrderedDict's `_metadata`); we keep none.
                    let _state = self.pop()?;
                    let target = self.top()?;
                    if !matches!(target, Value::Dict(_) | Value::Tensor(_)) {
                        let kind = target.kind();
                        return Err(self.bad(format!("BUILD on a {kind}")));
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let storage = Rc::new(self.persistent_load(&pid)?);
                    self.storages.push(Rc::clone(&storage));
                    self.stack.push(Value::Storage(storage));
                }
                0x81 | 0x92 => {
                    return Err(PickleError::Refused(format!(
                        "pickle byte {}: object construction (NEWOBJ) is not allowed in a \
                         weights file",
                        self.pos - 1
                    )))
                }
                b'i' | b'o' | 0x82..=0x84 => {
                    return Err(PickleError::Refused(format!(
                        "pickle byte {}: opcode 0x{op:02x} (INST/OBJ/EXT) is not allowed",
                        self.pos - 1
                    )))
                }
                _ => {
                    return Err(PickleError::Bad(format!(
                        "pickle byte {}: unsupported opcode 0x{op:02x}",
                        self.pos - 1
                    )))
                }
            }
        }
    }

    fn reduce(&self, callable: Value, args: Value) -> Result<Value, PickleError> {
        let Value::Global(global) = callable else {
            return Err(self.bad(format!("REDUCE calls a {}", callable.kind())));
        };
        let Value::Tuple(args) = &args else {
            return Err(self.bad("REDUCE arguments are not a tuple"));
        };
        match global {
            Global::OrderedDict if args.is_empty() => Ok(Value::Dict(Rc::default())),
            Global::RebuildTensorV2 => self.rebuild_tensor(args),
            Global::RebuildParameter => match args.first() {
                Some(data @ Value::Tensor(_)) => Ok(data.clone()),
                _ => Err(self.bad("_rebuild_parameter without a tensor")),
            },
            other => Err(self.bad(format!("unsupported call of {other:?}"))),
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
    /// backward_hooks[, metadata])`.
    fn rebuild_tensor(&self, args: &[Value]) -> Result<Value, PickleError> {
        if !(6..=7).contains(&args.len()) {
            return Err(self.bad(format!(
                "_rebuild_tensor_v2 takes 6 or 7 arguments, got {}",
                args.len()
            )));
        }
        let Value::Storage(storage) = &args[0] else {
            return Err(self.bad("_rebuild_tensor_v2: first argument is not a storage"));
        };
        let offset = self.usize_of(&args[1], "storage offset")?;
        let size = self.usize_tuple(&args[2], "size")?;
        let stride = self.usize_tuple(&args[3], "stride")?;
        if size.len() != stride.len() {
            return Err(self.bad("_rebuild_tensor_v2: size and stride differ in length"));
        }
        Ok(Value::Tensor(Rc::new(TensorRef {
            storage: Rc::clone(storage),
            offset,
            size,
            stride,
        })))
    }

    fn usize_of(&self, v: &Value, what: &str) -> Result<usize, PickleError> {
        match v {
            Value::Int(i) => usize::try_from(*i)
                .map_err(|_| self.bad(format!("{what} {i} is negative or too large"))),
            other => Err(self.bad(format!("{what} is a {}, not an int", other.kind()))),
        }
    }

    fn usize_tuple(&self, v: &Value, what: &str) -> Result<Vec<usize>, PickleError> {
        match v {
            Value::Tuple(items) => items.iter().map(|i| self.usize_of(i, what)).collect(),
            other => Err(self.bad(format!("{what} is a {}, not a tuple", other.kind()))),
        }
    }

    /// `('storage', torch.<Kind>Storage, key, location, numel)`; the legacy format adds a
    /// sixth item, `None` unless the storage is a view of another (torch < 1.0), which we
    /// refuse.
    fn persistent_load(&self, pid: &Value) -> Result<StorageRef, PickleError> {
        let Value::Tuple(items) = pid else {
            return Err(self.bad("persistent id is not a tuple"));
        };
        let items = match &items[..] {
            [head @ .., Value::None] if head.len() == 5 => head,
            [.., Value::Tuple(_)] if items.len() == 6 => {
                return Err(self.bad(
                    "the checkpoint stores a view of a storage (torch < 1.0); re-save it with \
                     a recent torch",
                ))
            }
            all => all,
        };
        match items {
            [Value::Str(tag), Value::Global(Global::StorageType(kind)), Value::Str(key), Value::Str(_location), numel]
                if &**tag == "storage" =>
            {
                Ok(StorageRef {
                    key: key.to_string(),
                    kind: *kind,
                    numel: self.usize_of(numel, "storage size")?,
                })
            }
            _ => Err(PickleError::Refused(format!(
                "pickle byte {}: persistent id is not a torch storage reference",
                self.pos
            ))),
        }
    }
}
