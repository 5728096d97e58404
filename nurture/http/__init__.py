"""What every view uses: request dependencies, error responses, public page rendering, API docs."""
