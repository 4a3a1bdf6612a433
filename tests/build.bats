@test "placeholder" { false; }
