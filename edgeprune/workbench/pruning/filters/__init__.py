"""Filter pruning: importance criteria, which filters to keep, and the channel surgery that removes them."""
