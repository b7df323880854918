//! A cursor over one line of text for the hand-written readers of the hot formats
//! (`op_line`, ferrocheck's own JSONL lines; `porcupine_kv`, Porcupine's kv lines): each step
//! reads one token in the one form those lines use and gives `None` on anything else, so the
//! caller falls back to the general reader.

/// A position in one line.
pub struct Scan<'a> {
    /// The line.
    pub text: &'a str,
    /// Where in it the next read starts.
    pub at: usize,
}

impl<'a> Scan<'a> {
    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.text.as_bytes()[self.at..]
    }

    /// Steps over `lit` if the text goes on with it.
    pub fn lit(&mut self, lit: &str) -> Option<()> {
        self.rest().starts_with(lit.as_bytes()).then(|| {
            self.at += lit.len();
        })
    }

    /// Up to 18 digits (so any fits an `i64`), no leading zero.
    pub fn whole(&mut self) -> Option<u64> {
        let rest = self.rest();
        let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || n > 18 || (n > 1 && rest[0] == b'0') {
            return None;
        }
        self.at += n;
        Some(
            rest[..n]
                .iter()
                .fold(0u64, |v, &d| v * 10 + u64::from(d - b'0')),
        )
    }

    /// An integer value: [`Scan::whole`], or its negative (not -0).
    pub fn int(&mut self) -> Option<i64> {
        if self.lit("-").is_some() {
            return match self.whole()? {
                0 => None,
                v => Some(-(v as i64)),
            };
        }
        self.whole().map(|v| v as i64)
    }

    /// A keyword's name: letters, digits, `-` and `_`.
    pub fn word(&mut self) -> Option<&'a str> {
        let n = self
            .rest()
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'_')
            .count();
        if n == 0 {
            return None;
        }
        let w = &self.text[self.at..self.at + n];
        self.at += n;
        Some(w)
    }

    /// A string without escapes or control characters; the text between the quotes.
    pub fn string(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        if rest.first() != Some(&b'"') {
            return None;
        }
        let len = rest[1..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[1 + len] != b'"' {
            return None;
        }
        // Quotes are ASCII, so both ends are character boundaries.
        let s = &self.text[self.at + 1..self.at + 1 + len];
        self.at += len + 2;
        Some(s)
    }
}
