"""What a message may say: render contexts, the signed links in emails, sample previews."""
