"""Race strategy: fuel, tyres, pace, pit windows and stints (pure functions and small state)."""
