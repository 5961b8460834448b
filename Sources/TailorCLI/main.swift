import SafeTensors
print("tailor")
