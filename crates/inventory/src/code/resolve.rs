//! Paths resolved across modules and crates: every unit's refs made
//! absolute (`crate::`, `self::`, `super::`, `use` aliases), and a path's
//! units found through `pub use` re-exports.

use super::*;

impl Workspace {
    /// Resolves every unit's refs against the complete module tree.
    pub(super) fn index(&mut self) {
        for (i, unit) in self.units.iter().enumerate() {
            self.by_path.entry(unit.path.clone()).or_default().push(i);
        }
        let scopes = std::mem::take(&mut self.pending_scope);
        let mut resolved_refs = Vec::with_capacity(self.units.len());
        for (unit, (module, ty)) in self.units.iter().zip(&scopes) {
            let refs: Vec<(Vec<String>, String)> = unit
                .refs
                .iter()
                .map(|(segs, shown)| {
                    // Shown as written, a `use` alias of the module expanded.
                    let globbed = self.aliases.get(module).and_then(|a| libc_glob(segs, a));
                    let shown = match segs
                        .first()
                        .and_then(|f| self.aliases.get(module).and_then(|a| a.get(f)))
                    {
                        _ if globbed.is_some() => globbed.unwrap_or_default().join("::"),
                        Some(target) => target
                            .iter()
                            .chain(&segs[1..])
                            .cloned()
                            .collect::<Vec<_>>()
                            .join("::"),
                        None => shown.clone(),
                    };
                    (self.absolute(segs, module, ty.as_deref(), 0), shown)
                })
                .collect();
            resolved_refs.push(refs);
        }
        for (unit, refs) in self.units.iter_mut().zip(resolved_refs) {
            for (path, shown) in &refs {
                // A primitive is matched on the path as written (aliases
                // expanded) and as resolved: a `type` alias of `Command`
                // is seen either way.
                let written: Vec<String> = shown.split("::").map(str::to_owned).collect();
                if let Some(p) = primitive(path).or_else(|| primitive(&written)) {
                    push_once(&mut unit.primitives, p);
                }
                if let Some(last) = path.last()
                    && (last == "AgentConfig" || last == "agent_cmd")
                {
                    push_once(&mut unit.reads, last.clone());
                }
            }
            unit.refs = refs;
        }
    }

    /// The absolute path `segs` names from `module`.
    pub(super) fn absolute(
        &self,
        segs: &[String],
        module: &[String],
        ty: Option<&str>,
        depth: usize,
    ) -> Vec<String> {
        let Some(first) = segs.first() else {
            return Vec::new();
        };
        if depth > MAX_DEPTH {
            return segs.to_vec();
        }
        let krate = module.first().cloned().unwrap_or_default();
        match first.as_str() {
            "crate" => std::iter::once(krate)
                .chain(segs[1..].iter().cloned())
                .collect(),
            "self" => module.iter().chain(&segs[1..]).cloned().collect(),
            "super" => {
                let parent = &module[..module.len().saturating_sub(1).max(1)];
                if segs.len() == 1 {
                    return parent.to_vec();
                }
                let mut rest = vec!["self".to_owned()];
                rest.extend(segs[1..].iter().cloned());
                self.absolute(&rest, parent, None, depth + 1)
            }
            "Self" => {
                let mut out = module.to_vec();
                out.extend(ty.map(str::to_owned));
                out.extend(segs[1..].iter().cloned());
                out
            }
            _ => {
                // A name of this module: an alias, a child module, an item.
                if let Some(target) = self.aliases.get(module).and_then(|a| a.get(first)) {
                    let mut full = self.absolute(target, module, None, depth + 1);
                    full.extend(segs[1..].iter().cloned());
                    return full;
                }
                let local: Vec<String> = module.iter().chain(segs).cloned().collect();
                if self.modules.contains(
                    &module
                        .iter()
                        .chain(std::iter::once(first))
                        .cloned()
                        .collect::<Vec<_>>(),
                ) || self.by_path.contains_key(&local)
                    || self.by_path.contains_key(
                        &module
                            .iter()
                            .chain(std::iter::once(first))
                            .cloned()
                            .collect::<Vec<_>>(),
                    )
                {
                    return local;
                }
                segs.to_vec()
            }
        }
    }

    /// The units an absolute path names, through `pub use` re-exports.
    pub(crate) fn resolve(&self, path: &[String]) -> Vec<usize> {
        self.resolve_at(path, 0)
    }

    pub(super) fn resolve_at(&self, path: &[String], depth: usize) -> Vec<usize> {
        if let Some(found) = self.by_path.get(path) {
            return found.clone();
        }
        if depth > MAX_DEPTH || path.is_empty() {
            return Vec::new();
        }
        if let Some(last) = path.last()
            && last.ends_with('!')
        {
            // Macros are found by name, in their crate first.
            let krate = path.first();
            let mut found: Vec<usize> = self
                .units
                .iter()
                .enumerate()
                .filter(|(_, u)| u.kind == UnitKind::Macro && u.path.last() == Some(last))
                .map(|(i, _)| i)
                .collect();
            if found.iter().any(|&i| Some(&self.units[i].krate) == krate) {
                found.retain(|&i| Some(&self.units[i].krate) == krate);
            }
            return found;
        }
        // A re-export: the longest module prefix with an alias for the next
        // segment.
        for cut in (1..path.len()).rev() {
            let module = &path[..cut];
            if let Some(target) = self.aliases.get(module).and_then(|a| a.get(&path[cut])) {
                let mut full = self.absolute(target, module, None, depth + 1);
                full.extend(path[cut + 1..].iter().cloned());
                if full != path {
                    return self.resolve_at(&full, depth + 1);
                }
            }
        }
        Vec::new()
    }
}
