"""``lapse lsp``: the language server, in small parts.

Every feature is a pure function over a :class:`~lapse_dsl.lsp.folder.Snapshot` (the texts of a
rule folder, parsed and checked the way ``lapse check`` does) and a position, answering in this
package's own values (:mod:`lapse_dsl.lsp.folder`): :mod:`.diagnostics`, :mod:`.hover`,
:mod:`.completion`, :mod:`.navigation` (definition and references) and :mod:`.actions` (the
"did you mean" fixes and formatting). Only :mod:`.server` imports pygls, and only the ``lsp``
command imports it, so the package's core never needs the ``lsp`` extra.
"""
