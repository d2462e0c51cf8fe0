"""Rule changes reviewed like code: ``rules test`` (cases, coverage), ``rules explain``, ``rules impact``.

Stages, in data-flow order: :mod:`.cases` (YAML test cases and event files with ``expect`` →
:class:`~engine.run.review.cases.Case`), :mod:`.runner` (cases → results on a virtual clock, the
same loop ``rules simulate`` uses), :mod:`.expect` (expectation vs decision → differences),
:mod:`.coverage` (which rules and condition leaves the cases exercised), :mod:`.output`
(text, JUnit, JSON, GitHub, Cobertura, lcov), :mod:`.explain` and :mod:`.impact`.
"""
