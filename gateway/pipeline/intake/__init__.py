"""Pure decisions on a submitted message: validation, targets, approval routes, planning deliveries."""
