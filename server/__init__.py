"""Spiegel: employee and customer satisfaction side by side."""
