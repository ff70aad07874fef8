//! A search or a question kept in a page's address (`/governance?who=…`): every field is the
//! text as typed, empty for "any", so it is a link to keep, share, reload and export. The server
//! reads the fields, refusing what it cannot read with the field's name.

/// Text fields named as they stand in the address; implementors list them in one place.
pub trait AddressQuery: Default + Clone {
    /// Each field by its name in the address: the one place the names are written.
    fn fields_mut(&mut self) -> Vec<(&'static str, &mut String)>;

    /// The names of the fields, as they stand in the address.
    fn names() -> Vec<&'static str> {
        Self::default()
            .fields_mut()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// The query from an address's parameters, by a getter of them.
    fn from_params(get: impl Fn(&str) -> Option<String>) -> Self {
        let mut query = Self::default();
        for (name, value) in query.fields_mut() {
            *value = get(name).unwrap_or_default();
        }
        query
    }

    /// The fields that are set, by name, trimmed: the address's query, or a form's hidden
    /// fields.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut copy = self.clone();
        copy.fields_mut()
            .into_iter()
            .map(|(name, value)| (name, value.trim().to_string()))
            .filter(|(_, value)| !value.is_empty())
            .collect()
    }

    /// The query string of the fields that are set (without `?`), encoded.
    fn to_query(&self) -> String {
        self.pairs()
            .into_iter()
            .map(|(name, value)| format!("{name}={}", crate::api::url_escape(&value)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// `path` with this query (`path` alone when nothing is set).
    fn link(&self, path: &str) -> String {
        match self.to_query() {
            query if query.is_empty() => path.to_string(),
            query if path.contains('?') => format!("{path}&{query}"),
            query => format!("{path}?{query}"),
        }
    }
}
