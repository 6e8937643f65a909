//! Named tasks: functions registered under a name, whose arguments and
//! results are serde values, so that a task can run in another process
//! (cluster mode) as well as here.
//!
//! A closure cannot cross a process. A [`Registry`] maps a name to a
//! function `fn(&TaskContext, Args) -> Result<Out, E>`; both sides build it
//! from the same code (a worker is the application's own binary in worker
//! mode), and a task names the function and carries its encoded arguments.
//!
//! # Encoding
//!
//! Arguments and results are encoded with [postcard], a compact binary
//! serde format: `benches/codec.rs` measures it against JSON
//! (`docs/cluster.md` has the figures). The wire carries only the name and
//! the bytes; nothing in a message can make a worker run a function that is
//! not in its registry.
//!
//! [postcard]: https://docs.rs/postcard

use crate::job::{JobCore, RemoteForm, TaskContext, TaskInner, Work};
use crate::spec::{BoxError, PackedSpec};
use crate::task::Task;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// The longest name a function can be registered under.
pub(crate) const MAX_NAME_LEN: usize = 128;

/// Why a function could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// The name is empty, too long, or has a character other than ASCII
    /// letters, digits, `_`, `-`, `.`, `:` and `/` (names travel in message
    /// headers).
    BadName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A function is registered under this name already.
    Duplicate {
        /// The name given.
        name: String,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::BadName { name, reason } => {
                write!(f, "cannot register a function as {name:?}: {reason}")
            }
            RegistryError::Duplicate { name } => {
                write!(f, "a function is registered as {name:?} already")
            }
        }
    }
}

impl std::error::Error for RegistryError {}

/// A value that would not encode or decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError {
    /// The function's name.
    pub name: String,
    /// What was being encoded or decoded: `"arguments"` or `"result"`.
    pub what: &'static str,
    /// The codec's message.
    pub message: String,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} of `{}` do not encode or decode: {}",
            self.what, self.name, self.message
        )
    }
}

impl std::error::Error for CodecError {}

/// How a call through the registry by name failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum CallError {
    /// No function is registered under the name.
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// The arguments or the result did not encode or decode.
    Codec(CodecError),
    /// The function returned an error.
    Failed(BoxError),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Unknown { name } => write!(f, "no function is registered as {name:?}"),
            CallError::Codec(e) => e.fmt(f),
            CallError::Failed(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Unknown { .. } => None,
            CallError::Codec(e) => Some(e),
            CallError::Failed(e) => Some(&**e),
        }
    }
}

pub(crate) fn encode<V: Serialize>(
    name: &str,
    what: &'static str,
    v: &V,
) -> Result<Vec<u8>, CodecError> {
    postcard::to_stdvec(v).map_err(|e| CodecError {
        name: name.to_owned(),
        what,
        message: e.to_string(),
    })
}

pub(crate) fn decode<V: DeserializeOwned>(
    name: &str,
    what: &'static str,
    bytes: &[u8],
) -> Result<V, CodecError> {
    postcard::from_bytes(bytes).map_err(|e| CodecError {
        name: name.to_owned(),
        what,
        message: e.to_string(),
    })
}

type TypedFn<A, O> = dyn Fn(&TaskContext<'_>, A) -> Result<O, BoxError> + Send + Sync;
type ErasedFn = dyn Fn(&TaskContext<'_>, &[u8]) -> Result<Vec<u8>, CallError> + Send + Sync;

/// A registered function with its argument type `A` and result type `O`:
/// what builds named tasks.
///
/// Cheap to clone.
pub struct NamedFn<A, O> {
    name: Arc<str>,
    f: Arc<TypedFn<A, O>>,
}

impl<A, O> Clone for NamedFn<A, O> {
    fn clone(&self) -> Self {
        NamedFn {
            name: Arc::clone(&self.name),
            f: Arc::clone(&self.f),
        }
    }
}

impl<A, O> fmt::Debug for NamedFn<A, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedFn")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<A, O> NamedFn<A, O>
where
    A: Serialize + DeserializeOwned + Send + Sync + 'static,
    O: Serialize + DeserializeOwned + Send + 'static,
{
    /// The name it is registered under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Decodes an encoded result of this function (a recovered task's,
    /// say: see `RuntimeHandle::recovered`).
    ///
    /// # Errors
    ///
    /// [`CodecError`] if the bytes are not a result of this function.
    pub fn decode(&self, bytes: &[u8]) -> Result<O, CodecError> {
        decode(&self.name, "result", bytes)
    }

    /// A task that calls this function with `args`, on a local node or a
    /// remote one. The arguments are encoded now, once; each attempt
    /// decodes them.
    ///
    /// # Errors
    ///
    /// [`CodecError`] if `args` do not encode (postcard refuses, for
    /// example, a sequence of unknown length).
    pub fn task(&self, args: &A) -> Result<Task<O>, CodecError> {
        let bytes = encode(&self.name, "arguments", args)?;
        Ok(Task {
            job: Arc::new(TaskInner::new(
                JobCore::unsubmitted(PackedSpec::default_spec()),
                NamedWork {
                    f: self.clone(),
                    args: bytes.into_boxed_slice(),
                },
            )),
        })
    }
}

/// A named task's work: the function and its encoded arguments.
struct NamedWork<A, O> {
    f: NamedFn<A, O>,
    args: Box<[u8]>,
}

impl<A, O> Work<O> for NamedWork<A, O>
where
    A: Serialize + DeserializeOwned + Send + Sync + 'static,
    O: Serialize + DeserializeOwned + Send + 'static,
{
    fn call(&self, ctx: &TaskContext<'_>) -> Result<O, BoxError> {
        let args: A = decode(&self.f.name, "arguments", &self.args)?;
        (self.f.f)(ctx, args)
    }

    fn remote(&self) -> Option<&dyn RemoteForm<O>> {
        Some(self)
    }
}

impl<A, O> RemoteForm<O> for NamedWork<A, O>
where
    A: Serialize + DeserializeOwned + Send + Sync + 'static,
    O: Serialize + DeserializeOwned + Send + 'static,
{
    fn name(&self) -> &str {
        &self.f.name
    }

    fn args(&self) -> &[u8] {
        &self.args
    }

    fn decode(&self, bytes: &[u8]) -> Result<O, BoxError> {
        Ok(decode(&self.f.name, "result", bytes)?)
    }

    fn encode(&self, value: &O) -> Option<Vec<u8>> {
        encode(&self.f.name, "result", value).ok()
    }
}

/// Functions by name: what a worker process can run for a coordinator,
/// and what builds named tasks on either side.
///
/// # Examples
///
/// ```
/// use allot::{Registry, Runtime, NodeSpec, Resources};
///
/// let mut registry = Registry::new();
/// let square = registry
///     .register("square", |_ctx, x: u64| Ok::<_, std::io::Error>(x * x))
///     .unwrap();
/// let runtime = Runtime::builder()
///     .nodes(vec![NodeSpec::new(Resources::cpu(1_000))])
///     .build()
///     .unwrap();
/// let handle = runtime.handle().submit(square.task(&7).unwrap()).unwrap();
/// assert_eq!(handle.wait().unwrap(), 49);
/// runtime.shutdown();
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    fns: HashMap<Arc<str>, Arc<ErasedFn>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.names().collect();
        names.sort_unstable();
        f.debug_struct("Registry").field("names", &names).finish()
    }
}

fn check_name(name: &str) -> Result<(), RegistryError> {
    let bad = |reason| {
        Err(RegistryError::BadName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("the name is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("the name is longer than 128 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.:/".contains(&b))
    {
        return bad("only ASCII letters, digits and _ - . : / are allowed");
    }
    Ok(())
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers `f` under `name`; returns what builds its tasks.
    ///
    /// # Errors
    ///
    /// [`RegistryError::BadName`] for an empty, too long or oddly spelt
    /// name, [`RegistryError::Duplicate`] if the name is taken.
    pub fn register<A, O, E, F>(&mut self, name: &str, f: F) -> Result<NamedFn<A, O>, RegistryError>
    where
        A: Serialize + DeserializeOwned + Send + Sync + 'static,
        O: Serialize + DeserializeOwned + Send + 'static,
        E: Into<BoxError> + 'static,
        F: Fn(&TaskContext<'_>, A) -> Result<O, E> + Send + Sync + 'static,
    {
        check_name(name)?;
        if self.fns.contains_key(name) {
            return Err(RegistryError::Duplicate {
                name: name.to_owned(),
            });
        }
        let name: Arc<str> = name.into();
        let typed: Arc<TypedFn<A, O>> = Arc::new(move |ctx, a| f(ctx, a).map_err(Into::into));
        let t = Arc::clone(&typed);
        let n = Arc::clone(&name);
        let erased: Arc<ErasedFn> = Arc::new(move |ctx, bytes| {
            let args: A = decode(&n, "arguments", bytes).map_err(CallError::Codec)?;
            let out = t(ctx, args).map_err(CallError::Failed)?;
            encode(&n, "result", &out).map_err(CallError::Codec)
        });
        self.fns.insert(Arc::clone(&name), erased);
        Ok(NamedFn { name, f: typed })
    }

    /// Whether a function is registered under `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.fns.contains_key(name)
    }

    /// The registered names, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fns.keys().map(|k| &**k)
    }

    /// How many functions are registered.
    pub fn len(&self) -> usize {
        self.fns.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.fns.is_empty()
    }

    /// Calls the function registered as `name` with encoded `args`;
    /// returns its encoded result. How a worker runs what it receives.
    ///
    /// # Errors
    ///
    /// [`CallError::Unknown`] if no function has that name,
    /// [`CallError::Codec`] if the arguments do not decode or the result
    /// does not encode, [`CallError::Failed`] with the function's own
    /// error.
    pub fn call(
        &self,
        name: &str,
        ctx: &TaskContext<'_>,
        args: &[u8],
    ) -> Result<Vec<u8>, CallError> {
        let f = self.fns.get(name).ok_or_else(|| CallError::Unknown {
            name: name.to_owned(),
        })?;
        f(ctx, args)
    }

    /// A task that calls the function registered as `name` with encoded
    /// `args` and yields its encoded result: how a worker runs a remote
    /// attempt on its own nodes, and how a journal runs a task again. It is
    /// a named task (it can go to a remote node, and be journalled).
    ///
    /// # Errors
    ///
    /// [`CallError::Unknown`] if no function has that name.
    pub fn task_by_name(&self, name: &str, args: Vec<u8>) -> Result<Task<Vec<u8>>, CallError> {
        let (name, f) = self
            .fns
            .get_key_value(name)
            .ok_or_else(|| CallError::Unknown {
                name: name.to_owned(),
            })?;
        Ok(Task {
            job: Arc::new(TaskInner::new(
                JobCore::unsubmitted(PackedSpec::default_spec()),
                RawWork {
                    name: Arc::clone(name),
                    f: Arc::clone(f),
                    args: args.into_boxed_slice(),
                },
            )),
        })
    }
}

/// A named task by name, on encoded values both ways.
struct RawWork {
    name: Arc<str>,
    f: Arc<ErasedFn>,
    args: Box<[u8]>,
}

impl Work<Vec<u8>> for RawWork {
    fn call(&self, ctx: &TaskContext<'_>) -> Result<Vec<u8>, BoxError> {
        (self.f)(ctx, &self.args).map_err(Into::into)
    }

    fn remote(&self) -> Option<&dyn RemoteForm<Vec<u8>>> {
        Some(self)
    }
}

impl RemoteForm<Vec<u8>> for RawWork {
    fn name(&self) -> &str {
        &self.name
    }

    fn args(&self) -> &[u8] {
        &self.args
    }

    fn decode(&self, bytes: &[u8]) -> Result<Vec<u8>, BoxError> {
        Ok(bytes.to_vec())
    }

    fn encode(&self, value: &Vec<u8>) -> Option<Vec<u8>> {
        Some(value.clone())
    }
}
