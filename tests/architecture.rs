//! The module graph, read from the library's own source: no import circle
//! between files, and no import running up the layers that
//! `docs/architecture.md` draws.
//!
//! Every `crate::`, `super::` and `self::` path in a library file (`use`
//! lines and paths in code; comments, `#[cfg(test)]` modules and the loom
//! models left out) is resolved to the file that defines it, looking
//! through `pub use` re-exports of `mod.rs` files and of `lib.rs`. Then:
//!
//! - the graph of files has no cycle (a file that uses its parent's
//!   re-export of its own sibling counts: that is a circle too);
//! - a file in a top-level module of layer `k` imports only from modules
//!   of layer `k` or below; every top-level module is in exactly one layer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path below the crate root: `["node", "shared"]`.
type ModPath = Vec<String>;

struct Crate {
    /// Every library file, by its module path.
    files: BTreeMap<ModPath, String>,
    /// `pub use` re-exports of each file: name → the path it names.
    exports: BTreeMap<ModPath, BTreeMap<String, ModPath>>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Removes comments, string contents are kept (paths in strings are rare
/// and harmless), and `#[cfg(test)]` / `#[cfg(all(test, …))]` items.
fn strip(text: &str) -> String {
    let mut out = String::new();
    let mut skip_depth: Option<usize> = None;
    let mut depth = 0usize;
    let mut pending_cfg_test = false;
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let trimmed = code.trim();
        if skip_depth.is_none() && trimmed.starts_with("#[cfg(") && trimmed.contains("test") {
            pending_cfg_test = true;
            continue;
        }
        let opens = code.matches('{').count();
        let closes = code.matches('}').count();
        if pending_cfg_test {
            pending_cfg_test = false;
            if trimmed.ends_with(';') {
                // `mod loom_models;` or a one-line item.
                continue;
            }
            if opens > closes {
                skip_depth = Some(depth);
                depth += opens - closes;
                continue;
            }
        }
        depth = (depth + opens).saturating_sub(closes);
        if let Some(d) = skip_depth {
            if depth <= d {
                skip_depth = None;
            }
            continue;
        }
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn module_path(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: ModPath = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "bin") {
                walk(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "loom_models.rs")
        {
            out.push(path);
        }
    }
}

/// Expands a `use` tree (`a::{b, c::{d, e}}`) into full paths.
fn expand(tree: &str) -> Vec<Vec<String>> {
    // Drop renames (`x as y`), then spaces.
    let mut words = tree.split_whitespace();
    let mut tree = String::new();
    while let Some(w) = words.next() {
        if w == "as" {
            // The new name, and any `,` or `}` glued to it.
            let next = words.next().unwrap_or("");
            tree.extend(next.chars().filter(|c| matches!(c, ',' | '}')));
        } else {
            tree.push_str(w);
        }
    }
    fn go(prefix: &[String], t: &str, out: &mut Vec<Vec<String>>) {
        if let Some(open) = t.find('{') {
            let head: Vec<String> = t[..open]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let inner = &t[open + 1..t.rfind('}').unwrap_or(t.len())];
            let mut p = prefix.to_vec();
            p.extend(head);
            let mut level = 0;
            let mut start = 0;
            for (i, ch) in inner.char_indices() {
                match ch {
                    '{' => level += 1,
                    '}' => level -= 1,
                    ',' if level == 0 => {
                        go(&p, &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            go(&p, &inner[start..], out);
        } else if !t.is_empty() {
            let mut p = prefix.to_vec();
            p.extend(t.split("::").filter(|s| !s.is_empty()).map(str::to_owned));
            out.push(p);
        }
    }
    let mut out = Vec::new();
    go(&[], &tree, &mut out);
    out
}

/// Every path a file names: from `use` items and from paths in code.
fn paths(code: &str) -> (Vec<ModPath>, Vec<(String, ModPath)>) {
    let mut all = Vec::new();
    let mut reexports = Vec::new();
    let mut rest = String::new();
    // `use` items end at `;`.
    let mut s = code;
    while let Some(i) = find_use(s) {
        rest.push_str(&s[..i]);
        let after = &s[i..];
        let end = after.find(';').unwrap_or(after.len());
        let item = &after[..end];
        let public = item.starts_with("pub");
        let tree = item[item.find("use ").unwrap() + 4..].trim();
        for p in expand(tree) {
            if public {
                if let Some(name) = p.last() {
                    if name != "*" && name != "self" {
                        reexports.push((name.clone(), p.clone()));
                    }
                }
            }
            all.push(p);
        }
        s = &after[end.min(after.len())..];
    }
    rest.push_str(s);
    // Paths in code: `crate::a::b`, `super::x`.
    let bytes = rest.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = rest[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let tail: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            all.push(
                tail.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        }
    }
    (all, reexports)
}

/// Where the next `use` item starts (at a line start, maybe `pub(..) `).
fn find_use(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find("use ") {
        let at = from + i;
        let line_start = s[..at].rfind('\n').map_or(0, |n| n + 1);
        let before = s[line_start..at].trim();
        if before.is_empty() || before.starts_with("pub") {
            return Some(line_start + s[line_start..].len() - s[line_start..].trim_start().len());
        }
        from = at + 4;
    }
    None
}

impl Crate {
    fn load() -> Crate {
        let src = root().join("src");
        let mut list = Vec::new();
        walk(&src, &mut list);
        let mut files = BTreeMap::new();
        for f in list {
            let text = std::fs::read_to_string(&f).unwrap();
            files.insert(module_path(&src, &f), strip(&text));
        }
        let mut c = Crate {
            files,
            exports: BTreeMap::new(),
        };
        let mut exports = BTreeMap::new();
        for (m, code) in &c.files {
            let (_, re) = paths(code);
            let mut table = BTreeMap::new();
            for (name, p) in re {
                if let Some(abs) = c.absolute(m, &p) {
                    table.insert(name, abs);
                }
            }
            exports.insert(m.clone(), table);
        }
        c.exports = exports;
        c
    }

    /// `p` as seen from module `m`, made absolute; `None` for paths out of
    /// the crate (`std::…`).
    fn absolute(&self, m: &ModPath, p: &[String]) -> Option<ModPath> {
        let mut base: ModPath;
        let mut rest = p;
        match p.first().map(String::as_str) {
            Some("crate") => {
                base = Vec::new();
                rest = &p[1..];
            }
            Some("self") => {
                base = m.clone();
                rest = &p[1..];
            }
            Some("super") => {
                base = m.clone();
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            _ => {
                // A path relative to this module: only child modules count.
                let mut child = m.clone();
                child.push(p.first()?.clone());
                if self.files.contains_key(&child) {
                    base = m.clone();
                } else {
                    return None;
                }
            }
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    /// The file that defines what absolute path `p` names (through
    /// re-exports), or `None`.
    fn file_of(&self, p: &ModPath, depth: usize) -> Option<ModPath> {
        if depth > 8 {
            return None;
        }
        // The longest prefix that is a file.
        let mut k = p.len();
        while k > 0 && !self.files.contains_key(&p[..k]) {
            k -= 1;
        }
        let file: ModPath = p[..k].to_vec();
        if k < p.len() {
            if let Some(target) = self.exports.get(&file).and_then(|t| t.get(&p[k])) {
                if target != p {
                    let mut next = target.clone();
                    next.extend(p[k + 1..].iter().cloned());
                    if let Some(f) = self.file_of(&next, depth + 1) {
                        return Some(f);
                    }
                }
            }
        }
        Some(file)
    }

    fn edges(&self) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
        let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
        for (m, code) in &self.files {
            let set = edges.entry(m.clone()).or_default();
            for p in paths(code).0 {
                let Some(abs) = self.absolute(m, &p) else {
                    continue;
                };
                let Some(f) = self.file_of(&abs, 0) else {
                    continue;
                };
                // The crate root is the facade; a parent naming its own
                // child module (`mod x;`, `pub use x::…`) is the tree.
                if f.is_empty() || &f == m {
                    continue;
                }
                set.insert(f);
            }
        }
        edges
    }
}

fn name(m: &ModPath) -> String {
    if m.is_empty() {
        "lib".into()
    } else {
        m.join("/")
    }
}

/// The layers drawn in docs/architecture.md, top first: the lines of its
/// first fenced block, module names split by `·`, before the `←`.
fn layers() -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let block = doc
        .split("```")
        .nth(1)
        .expect("docs/architecture.md opens with the layer diagram");
    block
        .lines()
        .filter(|l| l.contains('←'))
        .map(|l| {
            l.split('←')
                .next()
                .unwrap()
                .split('·')
                .map(|n| n.trim().trim_end_matches("/*").to_owned())
                .filter(|n| !n.is_empty())
                .collect()
        })
        .collect()
}

#[test]
fn the_file_graph_has_no_circle() {
    let c = Crate::load();
    assert!(c.files.len() > 30, "read {} files", c.files.len());
    let edges = c.edges();
    // Depth-first search for a back edge, reporting the circle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark: BTreeMap<&ModPath, Mark> = edges.keys().map(|k| (k, Mark::New)).collect();
    let mut circles = Vec::new();
    fn visit<'a>(
        m: &'a ModPath,
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        mark: &mut BTreeMap<&'a ModPath, Mark>,
        stack: &mut Vec<&'a ModPath>,
        circles: &mut Vec<String>,
    ) {
        mark.insert(m, Mark::Open);
        stack.push(m);
        for t in edges.get(m).into_iter().flatten() {
            match mark.get(t).copied().unwrap_or(Mark::Done) {
                Mark::New => visit(t, edges, mark, stack, circles),
                Mark::Open => {
                    let from = stack.iter().position(|s| *s == t).unwrap();
                    let mut names: Vec<String> = stack[from..].iter().map(|s| name(s)).collect();
                    names.push(name(t));
                    circles.push(names.join(" → "));
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        mark.insert(m, Mark::Done);
    }
    let keys: Vec<&ModPath> = edges.keys().collect();
    for k in keys {
        if mark[k] == Mark::New {
            visit(k, &edges, &mut mark, &mut Vec::new(), &mut circles);
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn imports_point_down_the_layers_of_docs_architecture_md() {
    let c = Crate::load();
    let layers = layers();
    assert!(layers.len() >= 4, "layers read: {layers:?}");
    let mut layer_of: BTreeMap<String, usize> = BTreeMap::new();
    for (k, names) in layers.iter().enumerate() {
        for n in names {
            assert!(
                layer_of.insert(n.clone(), k).is_none(),
                "`{n}` is in two layers"
            );
        }
    }
    let top: BTreeSet<String> = c.files.keys().filter_map(|m| m.first().cloned()).collect();
    let missing: Vec<&String> = top.iter().filter(|t| !layer_of.contains_key(*t)).collect();
    assert!(
        missing.is_empty(),
        "modules missing from the diagram in docs/architecture.md: {missing:?}"
    );
    let mut up = Vec::new();
    for (from, targets) in c.edges() {
        let Some(a) = from.first() else { continue };
        for to in targets {
            let Some(b) = to.first() else { continue };
            // Lines are drawn top first: a smaller index is a higher layer.
            if layer_of[b] < layer_of[a] {
                up.push(format!("{} → {}", name(&from), name(&to)));
            }
        }
    }
    assert!(up.is_empty(), "imports running up:\n{}", up.join("\n"));
}
