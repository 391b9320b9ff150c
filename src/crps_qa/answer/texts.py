"""Every fixed text an answer shows, in one place (tests assert them)."""

REFUSAL = "Not found in the corpus: none of the indexed papers clearly answers this question."
MARKER = "[{n}]"  # placed after each answer sentence; n is the citation's number
# verdict "uncertain" (issue 16): the best sentences are cited and highlighted, the text claims nothing
UNCERTAIN = ("Not sure: these passages may answer the question, but crps-qa cannot tell that they do. "
             "Check the highlighted sentences in the sources.")
