"""Reports: the HTML page builder, the task card (stage 01), EDA for tables, texts and images, validation."""
