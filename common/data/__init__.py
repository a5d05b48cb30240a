"""Data in: raw tables and event logs read and checked, column roles, folds, images, sequence targets, generators."""
