"""Every fixed text an answer shows, in one place (tests assert them)."""

REFUSAL = "Not found in the corpus: none of the indexed papers clearly answers this question."
MARKER = "[{n}]"  # placed after each answer sentence; n is the citation's number
