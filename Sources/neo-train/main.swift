import NeoTrain
print("neo-train")
